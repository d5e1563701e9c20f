package jsonvalue

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// seedJSON adds the conformance skeletons (as JSON), their annotation values
// and odd inputs to a fuzz corpus.
func seedJSON(f *testing.F) {
	f.Helper()
	for _, data := range skeletons(f) {
		f.Add(data)
		obj, err := stdDecodeObject(data)
		require.NoError(f, err)
		meta, _ := obj["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		for _, v := range ann {
			if s, ok := v.(string); ok {
				f.Add([]byte(s))
			}
		}
	}
	for _, s := range []string{
		``, ` `, `null`, `true`, `false`, `0`, `-0`, `-0.0e-0`, `1e400`, `-1E+400`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
		`123456789012345678901234567890`, `0.000001`, `1e-7`,
		`"plain"`, `"esc \" \\ \/ \b \f \n \r \t \u0000 \u001f \u007f \u00e9 \u2028 \u2029 \ufffd"`,
		`"\ud83d\ude00 \ud83d \ude00 \ud83d\u0041 \uD83D\uDE00"`, `"\x"`, `"\'"`, `"\u12g4"`,
		"\"\xff\xfe \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xef\xbf\xbd\"", "\"\t\"",
		`{"<b>":"&amp;","x":"<script>alert(1)</script>"}`, `{"ключ":"значение ☃ 😀"}`,
		`{"a":1,"a":2}`, `{"a":{"b":1},"a":{"c":2}}`, `{"a":1} trailing`, `[1] [2]`, `{"a":1}}`, `"s"x`, `1 2`,
		`{"a":}`, `{"a" 1}`, `{,}`, `[,]`, `[1,]`, `{"a":1,}`, `[01]`, `{'a':1}`, "\ufeff{}", `[truex]`, `nul`,
		" {\n\t\"a\" : [ 1 , 2.5 , -3e2 ] ,\r\n \"b\" : { } } ",
		strings.Repeat("[", 99) + strings.Repeat("]", 99),
		strings.Repeat("[", 101) + strings.Repeat("]", 101),
		strings.Repeat(`{"a":`, 120) + `1` + strings.Repeat("}", 120),
		strings.Repeat("[", 10001),
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode: Decode and DecodeObject give what encoding/json gives, value
// and error, for any input.
func FuzzDecode(f *testing.F) {
	seedJSON(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

// testSelection is an object's head, as the webhook reads it, and a few
// names the odd seeds use.
var testSelection = Selection{
	"apiVersion": nil, "kind": nil, "metadata": {"annotations": nil, "name": nil},
	"a": nil, "b": {"c": nil}, "ключ": nil, "<b>": nil,
}

// FuzzDecodeSelected: DecodeSelected gives what DecodeObject gives, value
// (pruned to the selection) and error, for any input.
func FuzzDecodeSelected(f *testing.F) {
	seedJSON(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSelected(t, data, testSelection)
	})
}

func checkSelected(t *testing.T, data []byte, sel Selection) {
	t.Helper()
	want, werr := DecodeObject(data)
	got, gerr := DecodeSelected(data, sel)
	if werr != nil {
		require.EqualError(t, gerr, werr.Error())
		return
	}
	require.NoError(t, gerr)
	if want == nil {
		require.Nil(t, got)
		return
	}
	require.Equal(t, prune(want, sel), got)
}
