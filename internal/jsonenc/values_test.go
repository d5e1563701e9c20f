package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// The tests of this file cover values as a JSON decoder makes them
// (map[string]any, []any, json.Number, …, with json.RawMessage parts), which
// is what JSON patches carry.

type marshalsItself struct{}

func (marshalsItself) MarshalJSON() ([]byte, error) { return []byte(` { "x" : "<&>" } `), nil }

type failsToMarshal struct{}

func (failsToMarshal) MarshalJSON() ([]byte, error) { return nil, os.ErrInvalid }

func TestDecodedValues(t *testing.T) {
	cycle := map[string]any{}
	cycle["self"] = cycle
	loop := make([]any, 1)
	loop[0] = loop
	deep := any("bottom")
	for range maxDepth + 5 {
		deep = map[string]any{"d": []any{deep}}
	}
	for _, c := range []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"object sorted", map[string]any{"b": 1.0, "a": "x", "C": true, "": nil, "aa": false}},
		{"nested", map[string]any{"l": []any{map[string]any{"z": []any{}}, map[string]any{}}}},
		{"nil map", map[string]any(nil)},
		{"nil slice", []any(nil)},
		{"empty map and slice", []any{map[string]any{}, []any{}}},
		{"HTML", "<script>&</script>"},
		{"quotes and backslash", `"\`},
		{"control characters", "\x00\x01\b\f\n\r\t\x1f\x7f"},
		{"line separators", "a\u2028b\u2029c"},
		{"invalid UTF-8", "a\xffb\xed\xa0\x80c\xc3"},
		{"unicode", "é☃😀\ufffd"},
		{"HTML in keys", map[string]any{"<k>": "&", "\xff": 1.0}},
		{"numbers", []any{json.Number("0"), json.Number("-0"), json.Number("1e400"), json.Number("12.5E-3"), json.Number("")}},
		{"floats", []any{0.0, math.Copysign(0, -1), 1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.0, -2.5e-10, math.MaxFloat64, math.SmallestNonzeroFloat64}},
		{"int64", []any{int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64)}},
		{"raw compact", json.RawMessage(`{"a":[1,2]}`)},
		{"raw with space", json.RawMessage(" {\n \"a\" : [ 1 , \"x y\" ] } ")},
		{"raw with HTML", json.RawMessage(`"<a href=\"x\">&</a>"`)},
		{"raw with line separator", json.RawMessage("\"a\u2028b\u2029\"")},
		{"raw keeps escapes", json.RawMessage(`"\u003c\n\/"`)},
		{"raw keeps invalid UTF-8", json.RawMessage("\"\xff\"")},
		{"nil raw", json.RawMessage(nil)},
		{"raw in map", map[string]any{"r": json.RawMessage(`[ true ]`)}},
		{"marshaler compacted", marshalsItself{}},
		{"invalid number", json.Number("01")},
		{"invalid number nested", map[string]any{"n": json.Number("1.")}},
		{"NaN", math.NaN()},
		{"infinity", []any{math.Inf(-1)}},
		{"empty raw", json.RawMessage{}},
		{"invalid raw", json.RawMessage(`{"a":}`)},
		{"raw with two values", json.RawMessage(`1 2`)},
		{"raw with bad escape", json.RawMessage(`"\q"`)},
		{"raw with control character", json.RawMessage("\"\t\"")},
		{"marshaler error", map[string]any{"x": failsToMarshal{}}},
		{"channel", map[string]any{"c": make(chan int)}},
		{"map cycle", cycle},
		{"slice cycle", loop},
		{"deep", deep},
	} {
		t.Run(c.name, func(t *testing.T) { requireSame(t, c.v) })
	}
}

// TestAppendString checks AppendString against json.Marshal of a string.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "<a&b>", "\x00\x1f\u2028\u2029", "a\xffb\xc3", "/metadata/annotations/flyte.org~1expanded-from"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, "p"+string(want), string(AppendString([]byte("p"), s)))
	}
}

// FuzzAppendDecoded: for any value encoding/json decodes from the input
// (numbers as json.Number), Append writes what json.Marshal writes, also with
// parts of it kept as json.RawMessage, with floats and int64s, and for the
// input itself as a string, a json.Number and a json.RawMessage.
func FuzzAppendDecoded(f *testing.F) {
	seedDecoded(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := json.Marshal(string(data))
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendString(nil, string(data))))
		requireSame(t, string(data))
		requireSame(t, json.Number(data))
		requireSame(t, json.RawMessage(data))
		requireSame(t, map[string]any{"raw": json.RawMessage(data), "s": string(data), string(data): true})

		var v any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return
		}
		requireSame(t, v)
		requireSame(t, []any{v, withRaw(data), withFloats(v)})

		var raws []json.RawMessage // the elements as encoding/json saw them, spaces included
		if json.Unmarshal(data, &raws) == nil {
			elems := make([]any, len(raws))
			for i, r := range raws {
				elems[i] = r
			}
			requireSame(t, elems)
		}
	})
}

// seedDecoded adds the conformance skeletons (as JSON), their annotation
// values and odd inputs to a fuzz corpus.
func seedDecoded(f *testing.F) {
	files, err := filepath.Glob(conformanceDir + "/*/*/skeleton.yaml")
	require.NoError(f, err)
	require.NotEmpty(f, files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		js, err := yaml.YAMLToJSON(data)
		require.NoError(f, err)
		f.Add(js)
		var obj struct {
			Metadata struct{ Annotations map[string]string }
		}
		require.NoError(f, json.Unmarshal(js, &obj))
		for _, v := range obj.Metadata.Annotations {
			f.Add([]byte(v))
		}
	}
	for _, s := range []string{
		``, `null`, `true`, `0`, `-0`, `-0.0e-0`, `1e400`, `01`, `1.`, `123456789012345678901234567890`, `1e-7`,
		`"esc \" \\ \/ \b \f \n \r \t \u0000 \u001f \u007f \u00e9 \u2028 \u2029 \ufffd"`,
		`"\ud83d\ude00 \ud83d \ude00"`, "\"\xff\xfe \xc3\x28 \xed\xa0\x80\"", "\"\t\"",
		`{"<b>":"&amp;","x":"<script>alert(1)</script>"}`, `{"a":1,"a":2}`, `{"a":1} trailing`, `[1,]`,
		" {\n\t\"a\" : [ 1 , 2.5 , -3e2 ] ,\r\n \"b\" : { } } ",
		strings.Repeat("[", 101) + strings.Repeat("]", 101),
	} {
		f.Add([]byte(s))
	}
}

// withRaw decodes data with each member of an object (or the whole value) left
// as json.RawMessage, as encoding/json saw it.
func withRaw(data []byte) any {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) == nil && m != nil {
		out := make(map[string]any, len(m))
		for k, r := range m {
			out[k] = r
		}
		return out
	}
	var r json.RawMessage
	if json.NewDecoder(bytes.NewReader(data)).Decode(&r) != nil {
		return nil
	}
	return r
}

// withFloats returns v with each number as a float64 and, where it is an
// integer that fits, also as an int64.
func withFloats(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = withFloats(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withFloats(e)
		}
		return out
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return []any{i, float64(i)}
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return math.Inf(1) // out of range: an error for both
		}
		return f
	}
	return v
}
