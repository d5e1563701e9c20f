package pbjson

import (
	"testing"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
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
		newMsg := fuzzTypes[int(which)%len(fuzzTypes)]

		want := newMsg()
		wantErr := protojsonUnmarshal(data, want)

		fast := newMsg()
		if decodeFast(data, fast) {
			require.NoError(t, wantErr, "the fast path took an input protojson refuses")
			requireEqual(t, want, fast, "the fast path differs from protojson")
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
	})
}

func requireEqual(t *testing.T, want, got proto.Message, msg string) {
	t.Helper()
	if !proto.Equal(want, got) {
		t.Fatalf("%s:\n got %v\nwant %v", msg, got, want)
	}
}
