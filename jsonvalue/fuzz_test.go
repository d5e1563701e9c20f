package jsonvalue

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
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

// FuzzAppend: for any value encoding/json decodes from the input, Append
// writes what json.Marshal writes, also with parts of it kept as
// json.RawMessage, with floats and int64s, and for the input itself as a
// string, a json.Number and a json.RawMessage.
func FuzzAppend(f *testing.F) {
	seedJSON(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := json.Marshal(string(data))
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendString(nil, string(data))))
		checkAppend(t, string(data))
		checkAppend(t, json.Number(data))
		checkAppend(t, json.RawMessage(data))
		checkAppend(t, map[string]any{"raw": json.RawMessage(data), "s": string(data), string(data): true})

		v, err := stdDecode(data)
		if err != nil {
			return
		}
		checkAppend(t, v)
		checkAppend(t, []any{v, withRaw(t, data), withFloats(v)})

		var raws []json.RawMessage // the elements as encoding/json saw them, spaces included
		if json.Unmarshal(data, &raws) == nil {
			elems := make([]any, len(raws))
			for i, r := range raws {
				elems[i] = r
			}
			checkAppend(t, elems)
		}
	})
}

// withRaw decodes data with each member of an object (or each element of an
// array) left as json.RawMessage, as encoding/json saw it.
func withRaw(t *testing.T, data []byte) any {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) == nil && m != nil {
		out := make(map[string]any, len(m))
		for k, r := range m {
			out[k] = r
		}
		return out
	}
	var r json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if dec.Decode(&r) != nil {
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
