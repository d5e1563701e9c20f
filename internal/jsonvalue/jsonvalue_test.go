package jsonvalue

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

const conformance = "../../cmd/flyte-admission/testdata/conformance"

// stdDecode is what Decode replaces: a json.Decoder with UseNumber.
func stdDecode(data []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&v)
	return v, err
}

// stdDecodeObject is what DecodeObject replaces.
func stdDecodeObject(data []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}

// countFallbacks sets fallbackHook for the rest of the test and returns the
// count of calls so far.
func countFallbacks(t testing.TB) *[]string {
	t.Helper()
	var calls []string
	fallbackHook = func(what string) { calls = append(calls, what) }
	t.Cleanup(func() { fallbackHook = nil })
	return &calls
}

// skeletons returns the conformance skeletons as JSON, by case name.
func skeletons(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(conformance + "/*/*/skeleton.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		js, err := yaml.YAMLToJSON(data)
		require.NoError(t, err)
		rel, _ := filepath.Rel(conformance, filepath.Dir(f))
		out[filepath.ToSlash(rel)] = js
	}
	return out
}

// requireSameError checks that two errors are both nil or alike: same type
// and same text.
func requireSameError(t testing.TB, want, got error) {
	t.Helper()
	if want == nil {
		require.NoError(t, got)
		return
	}
	require.Error(t, got, "encoding/json says %v", want)
	require.IsType(t, want, got)
	require.Equal(t, want.Error(), got.Error())
}

// checkDecode compares Decode and DecodeObject with encoding/json on data.
func checkDecode(t testing.TB, data []byte) {
	t.Helper()
	want, werr := stdDecode(data)
	got, gerr := Decode(data)
	requireSameError(t, werr, gerr)
	require.Equal(t, want, got, "Decode(%q)", data)

	wantObj, werr := stdDecodeObject(data)
	gotObj, gerr := DecodeObject(data)
	requireSameError(t, werr, gerr)
	require.Equal(t, wantObj, gotObj, "DecodeObject(%q)", data)
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		fallback bool // the fast path hands it to encoding/json
	}{
		{"object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, false},
		{"spaces", " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n", false},
		{"empty containers", `{"a":{},"b":[],"c":""}`, false},
		{"top-level string", `"x"`, false},
		{"top-level number", `-12.5e+3`, false},
		{"top-level literals", `null`, false},
		{"duplicate keys: last wins", `{"a":1,"a":{"b":2},"a":"last"}`, false},
		{"trailing data is not read", `{"a":1} {"b":2}`, false},
		{"trailing garbage is not read", `[1]]]xyz`, false},
		{"number ends at garbage", `123abc`, false},
		{"leading zero ends the number", `01`, false},
		{"true then garbage", `truex`, false},
		{"negative zero", `-0`, false},
		{"huge exponent kept as text", `1e400`, false},
		{"escapes", `"a\"b\\c\/d\be\ff\ng\rh\ti\u0041\u00e9\u2028"`, false},
		{"surrogate pair", `"\ud83d\ude00"`, false},
		{"lone high surrogate", `"\ud83dx"`, false},
		{"lone low surrogate", `"\ude00"`, false},
		{"two high surrogates", `"\ud83d\ud83d\ude00"`, false},
		{"surrogate then escape", `"\ud83d\n"`, false},
		{"invalid UTF-8 replaced", "\"a\xffb\xc3\x28\xed\xa0\x80\"", false},
		{"invalid UTF-8 in key", "{\"\xff\":1,\"\xfe\":2}", false},
		{"HTML chars", `{"<a>&amp;":"<b>"}`, false},
		{"unicode", `{"ключ":"значение ☃ 😀"}`, false},
		{"NUL escape", `"\u0000"`, false},

		{"empty", ``, true},
		{"only space", "  \n", true},
		{"unterminated object", `{"a":1`, true},
		{"unterminated string", `"abc`, true},
		{"trailing comma", `[1,2,]`, true},
		{"missing colon", `{"a" 1}`, true},
		{"single quotes", `{'a':1}`, true},
		{"bad escape", `"\x"`, true},
		{"apostrophe escape", `"\'"`, true},
		{"short unicode escape", `"\u12"`, true},
		{"control character", "\"a\tb\"", true},
		{"leading zero in array", `[01]`, true},
		{"minus alone", `-`, true},
		{"point without digits", `1.`, true},
		{"exponent without digits", `1e+`, true},
		{"plus sign", `+1`, true},
		{"partial literal", `tru`, true},
		{"wrong literal", `nul1`, true},
		{"byte order mark", "\ufeff{}", true},
		{"deep nesting", strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), true},
		{"too deep for encoding/json", strings.Repeat("[", 10001), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := countFallbacks(t)
			got, err := Decode([]byte(c.in))
			want, werr := stdDecode([]byte(c.in))
			requireSameError(t, werr, err)
			require.Equal(t, want, got)
			if c.fallback {
				require.NotEmpty(t, *calls, "expected a fallback to encoding/json")
			} else {
				require.Empty(t, *calls, "expected the fast path")
			}
			checkDecode(t, []byte(c.in))
		})
	}
}

func TestDecodeObject(t *testing.T) {
	for name, in := range map[string]string{
		"object":       `{"a":[1,{"b":null}]}`,
		"null":         `null`,
		"array":        `[1]`,
		"string":       `"s"`,
		"number":       `1`,
		"syntax error": `{"a":}`,
		"empty":        ``,
	} {
		t.Run(name, func(t *testing.T) {
			want, werr := stdDecodeObject([]byte(in))
			got, err := DecodeObject([]byte(in))
			requireSameError(t, werr, err)
			require.Equal(t, want, got)
		})
	}
}

// TestDecodeTypes checks the Go types of decoded values, which
// require.Equal would not tell apart from equal-looking ones.
func TestDecodeTypes(t *testing.T) {
	v, err := Decode([]byte(`{"n":1.5,"s":"x","b":true,"z":null,"a":[],"o":{}}`))
	require.NoError(t, err)
	m := v.(map[string]any)
	require.IsType(t, json.Number(""), m["n"])
	require.IsType(t, "", m["s"])
	require.IsType(t, true, m["b"])
	require.Nil(t, m["z"])
	require.NotNil(t, m["a"].([]any), "[] is an empty, non-nil slice")
	require.NotNil(t, m["o"].(map[string]any), "{} is an empty, non-nil map")
}

// TestDecodeDoesNotAlias checks that decoded strings do not share the input's
// memory.
func TestDecodeDoesNotAlias(t *testing.T) {
	data := []byte(`{"key":"value","n":12}`)
	v, err := Decode(data)
	require.NoError(t, err)
	for i := range data {
		data[i] = 'X'
	}
	require.Equal(t, map[string]any{"key": "value", "n": json.Number("12")}, v)
}

// TestConformanceFastPath checks that the conformance skeletons are decoded
// without falling back to encoding/json.
func TestConformanceFastPath(t *testing.T) {
	for name, data := range skeletons(t) {
		t.Run(name, func(t *testing.T) {
			calls := countFallbacks(t)
			checkDecode(t, data)
			require.Empty(t, *calls, "fell back to encoding/json")
		})
	}
}
