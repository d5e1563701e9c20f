package pbjson

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fuzzTypes are the message types FuzzUnmarshal decodes into, chosen by the
// first argument modulo their number.
var fuzzTypes = []func() proto.Message{
	func() proto.Message { return &core.TaskTemplate{} },
	func() proto.Message { return &plugins.SparkJob{} },
	func() proto.Message { return &plugins.DaskJob{} },
	func() proto.Message { return &plugins.RayJob{} },
	func() proto.Message { return &structpb.Value{} },
	func() proto.Message { return &core.Literal{} }, // Timestamp, bytes, Struct, oneofs
	newAllTypes3, // every kind of field
	newAllTypes2, // proto2: groups, closed enums
}

// fuzzTypeOf returns the index in fuzzTypes of m's type, or 0.
func fuzzTypeOf(m proto.Message) uint8 {
	for i, f := range fuzzTypes {
		if f().ProtoReflect().Descriptor() == m.ProtoReflect().Descriptor() {
			return uint8(i)
		}
	}
	return 0
}

// FuzzUnmarshal checks the invariant of the fast path: when it succeeds,
// protojson succeeds on the same input with an equal message; when it gives
// up, the message is empty; and Unmarshal's result and error are protojson's.
func FuzzUnmarshal(f *testing.F) {
	for _, tc := range templates(f) {
		f.Add(uint8(0), tc.json)
		tt := &core.TaskTemplate{}
		require.NoError(f, protojsonUnmarshal(tc.json, tt))
		if plugin := pluginMessage(tt.GetType()); plugin != nil && tt.GetCustom() != nil {
			custom, err := protojson.Marshal(tt.GetCustom())
			require.NoError(f, err)
			f.Add(fuzzTypeOf(plugin), custom)
		}
	}
	for _, cases := range [][]testCase{fastCases, bailCases} {
		for _, tc := range cases {
			f.Add(fuzzTypeOf(tc.newMsg()), []byte(tc.in))
		}
	}
	f.Add(uint8(5), []byte(`{"scalar":{"primitive":{"datetime":"2024-01-01T00:00:00Z"}}}`))
	f.Add(uint8(5), []byte(`{"scalar":{"primitive":{"duration":"1.5s","integer":"-3"}},"hash":"h","metadata":{"a":"b"}}`))
	f.Add(uint8(5), []byte(`{"scalar":{"generic":{"a":[1,{"b":null}]}}}`))
	f.Add(uint8(5), []byte(`{"collection":{"literals":[{"scalar":{"primitive":{"floatValue":1.5e3,"boolean":true}}}]}}`))
	f.Add(uint8(5), []byte(`{"scalar":{"binary":{"value":"aGk=","tag":"t"}}}`))
	f.Add(uint8(4), []byte(`{"a":"\ud800\udc00","b":[true,false,null,-0.0,1E+2]}`))
	f.Add(uint8(0), []byte(`{"metadata":{"timeout":"-0.5s","retries":{"retries":"7"},"generatesDeck":false}}`))

	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		requireInvariant(t, data, fuzzTypes[int(which)%len(fuzzTypes)])
	})
}

// requireInvariant checks the invariant of the fast path on data.
func requireInvariant(t *testing.T, data []byte, newMsg func() proto.Message) {
	t.Helper()
	want := newMsg()
	wantErr := protojsonUnmarshal(data, want)

	fast := newMsg()
	if decodeFast(string(data), fast) {
		require.NoError(t, wantErr, "the fast path took an input protojson refuses: %q", data)
		requireEqual(t, want, fast, "the fast path differs from protojson on "+strconv.Quote(string(data)))
	} else {
		requireEqual(t, newMsg(), fast, "the fast path gave up leaving a half-written message")
	}

	got := newMsg()
	err := Unmarshal(data, got)
	if wantErr != nil {
		require.Error(t, err)
		require.Equal(t, wantErr.Error(), err.Error())
		return
	}
	require.NoError(t, err)
	requireEqual(t, want, got, "Unmarshal differs from protojson")
}

func requireEqual(t *testing.T, want, got proto.Message, msg string) {
	t.Helper()
	if !proto.Equal(want, got) {
		t.Fatalf("%s:\n got %v\nwant %v", msg, got, want)
	}
}

// The lexical rules are checked exhaustively below, where fuzzing is slow to
// reach: every byte, escape and short number or duration in every context.

// contexts wrap a JSON value (%s) in the places the fast path reads one.
var contexts = []struct {
	name   string
	format string
	newMsg func() proto.Message
}{
	{"string field", `{"type":%s}`, newTemplate},
	{"int32 field", `{"taskTypeVersion":%s}`, newTemplate},
	{"uint32 field", `{"metadata":{"retries":{"retries":%s}}}`, newTemplate},
	{"enum field", `{"id":{"resourceType":%s}}`, newTemplate},
	{"duration field", `{"metadata":{"timeout":%s}}`, newTemplate},
	{"bool wrapper", `{"metadata":{"generatesDeck":%s}}`, newTemplate},
	{"list", `{"container":{"args":[%s]}}`, newTemplate},
	{"map", `{"config":{"k":%s}}`, newTemplate},
	{"unknown field", `{"zz":%s}`, newTemplate},
	{"unknown field in a list", `{"zz":[1,%s]}`, newTemplate},
	{"struct", `{"custom":{"k":%s}}`, newTemplate},
	{"double", `%s`, func() proto.Message { return &wrapperspb.DoubleValue{} }},
	{"float", `%s`, func() proto.Message { return &wrapperspb.FloatValue{} }},
	{"int64", `%s`, func() proto.Message { return &wrapperspb.Int64Value{} }},
	{"uint64", `%s`, func() proto.Message { return &wrapperspb.UInt64Value{} }},
	{"Value field", `{"singleValue":%s}`, newAllTypes3},
	{"list of Values", `{"repeatedValue":[%s]}`, newAllTypes3},
	{"map of Values", `{"mapStringValue":{"k":%s}}`, newAllTypes3},
	{"sint64 field", `{"singleSint64":%s}`, newAllTypes3},
	{"fixed64 field", `{"singleFixed64":%s}`, newAllTypes3},
	{"float field", `{"singleFloat":%s}`, newAllTypes3},
	{"list of enums", `{"repeatedNestedEnum":[%s]}`, newAllTypes3},
	{"bool field", `{"singleBool":%s}`, newAllTypes3},
}

func requireInvariantInContexts(t *testing.T, value string) {
	t.Helper()
	for _, c := range contexts {
		requireInvariant(t, []byte(fmt.Sprintf(c.format, value)), c.newMsg)
	}
}

func TestEveryByteInStrings(t *testing.T) {
	for b := 0; b < 256; b++ {
		c := string([]byte{byte(b)})
		for _, v := range []string{
			`"` + c + `"`, `"a` + c + `b"`, `"\n` + c + `"`, `"\` + c + `"`, `"\u00` + c + `0"`,
			`"é` + c + `"`, `"\ud83d` + c + `"`, `"\ud83d\` + c + `de00"`,
		} {
			requireInvariantInContexts(t, v)
		}
		// As a key, plain and after an escape, in an object and a Struct.
		for _, format := range []string{`{"%s":1}`, `{"\t%s":1}`, `{"custom":{"%s":1}}`, `{"custom":{"\t%s":1}}`} {
			requireInvariant(t, []byte(fmt.Sprintf(format, c)), newTemplate)
		}
		// Between tokens.
		for _, format := range []string{`{%s"type":"x"}`, `{"type"%s:"x"}`, `{"type":"x"%s}`, `{"type":"x"}%s`, `{"zz":[1%s]}`} {
			requireInvariant(t, []byte(fmt.Sprintf(format, c)), newTemplate)
		}
	}
}

func TestEveryUnicodeEscape(t *testing.T) {
	hexes := []string{"0000", "001f", "0020", "007f", "00ff", "d7ff", "d800", "dbff", "dc00", "dfff", "e000", "fffd", "ffff", "D83D", "DE00", "0g00", "-001", "+001", "00 1"}
	for _, a := range hexes {
		requireInvariantInContexts(t, `"\u`+a+`"`)
		for _, b := range hexes {
			requireInvariantInContexts(t, `"\u`+a+`\u`+b+`"`)
		}
	}
	requireInvariantInContexts(t, `"\u12"`)
	requireInvariantInContexts(t, `"\ud83d\u12"`)
	requireInvariantInContexts(t, `"\ud83d\"`)
}

// texts returns every text of 1 to n bytes from alphabet.
func texts(alphabet string, n int) []string {
	out := []string{""}
	for prev := out; n > 0; n-- {
		var next []string
		for _, p := range prev {
			for i := range len(alphabet) {
				next = append(next, p+alphabet[i:i+1])
			}
		}
		out, prev = append(out, next...), next
	}
	return out[1:]
}

// TestShortNumbers: every text of up to three characters from the alphabet
// of numbers, and of four from a smaller one, bare and quoted, in every
// context; and the edges of the integer and float ranges.
func TestShortNumbers(t *testing.T) {
	all := append(texts("-+.eE019 ", 3), texts("-.e01", 4)...)
	all = append(all, "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "18446744073709551616", "99999999999999999999", "1e308", "1e309", "3.4028235e38",
		"3.4028236e38", "1e-46", "4.9e-324", "0.1e1", "10e-1", "1E2", "00", "-", "--1")
	for _, s := range all {
		requireInvariantInContexts(t, s)
		requireInvariantInContexts(t, `"`+s+`"`)
	}
}

// TestShortDurations: every text of up to five characters from the alphabet
// of durations, and the edges of their range.
func TestShortDurations(t *testing.T) {
	all := append(texts("-+.09s", 5), "", "315576000000s", "315576000001s", "-315576000000.999999999s",
		"1.123456789s", "1.1234567891s", "999999999999s", "9999999999999s", "0.000000001s", "-0.000000001s")
	for _, s := range all {
		requireInvariant(t, []byte(`{"metadata":{"timeout":"`+s+`"}}`), newTemplate)
	}
}
