package task

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// FuzzAppendStruct checks appendStruct against protojson.Marshal, which it
// replaces: for every Struct, both encodings decode to the same value.
func FuzzAppendStruct(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"a":1,"b":[true,false,null],"c":{"d":"e\"\\\n\t\u0001é☃"},"n":-0.000001,"big":1e21,"small":1.5e-7}`,
		`{"podSpec":{"containers":[{"name":"primary","resources":{"limits":{"cpu":"1"}}}]},"x":[[],[{}]]}`,
		`{"int":12345678901234567890,"neg":-3,"frac":0.1,"exp":123e-20}`,
		`{"z":1,"a":2,"M":3,"m":4}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &structpb.Struct{}
		if protojson.Unmarshal(data, s) != nil {
			return
		}
		want, werr := protojson.Marshal(s)
		got, gerr := appendStruct(nil, s)
		if werr != nil {
			require.Error(t, gerr, "protojson refused: %v", werr)
			return
		}
		require.NoError(t, gerr)
		var w, g any
		require.NoError(t, json.Unmarshal(want, &w))
		require.NoError(t, json.Unmarshal(got, &g), "not JSON: %s", got)
		require.Equal(t, w, g)
	})
}

func TestAppendStructRefuses(t *testing.T) {
	for name, v := range map[string]*structpb.Value{
		"NaN":          structpb.NewNumberValue(math.NaN()),
		"infinity":     structpb.NewNumberValue(math.Inf(1)),
		"invalid UTF8": structpb.NewStringValue("a\xffb"),
		"no kind":      {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := appendStruct(nil, &structpb.Struct{Fields: map[string]*structpb.Value{"k": v}})
			require.Error(t, err)
			_, err = protojson.Marshal(&structpb.Struct{Fields: map[string]*structpb.Value{"k": v}})
			require.Error(t, err, "protojson accepts it too")
		})
	}
}
