package task

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// binaryOf is the annotation value of m in the binary form.
func binaryOf(t *testing.T, m proto.Message) string {
	t.Helper()
	bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	require.NoError(t, err)
	return BinaryTemplatePrefix + base64.StdEncoding.EncodeToString(bin)
}

func TestDecodeTemplateBinary(t *testing.T) {
	const js = `{"type":"spark","id":{"resourceType":"TASK","project":"p","domain":"d","name":"t","version":"v1"},` +
		`"container":{"image":"i","args":["pyflyte-execute","--inputs","{{.input}}"]},` +
		`"custom":{"sparkConf":{"spark.executor.instances":"2"},"l":[1,"x",null,{"a":true}]},` +
		`"securityContext":{"secrets":[{"group":"g","key":"k"}]}}`
	want, err := DecodeTemplate(js)
	require.NoError(t, err)
	value, err := EncodeBinaryTemplate(want)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(value, BinaryTemplatePrefix))

	wrapped := BinaryTemplatePrefix + "\n"
	for rest := strings.TrimPrefix(value, BinaryTemplatePrefix); rest != ""; {
		n := min(len(rest), 60)
		wrapped += "  " + rest[:n] + "\n"
		rest = rest[n:]
	}
	for name, s := range map[string]string{
		"one line":                   value,
		"wrapped as in a YAML block": wrapped,
		"surrounded by whitespace":   "\n " + value + " \n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := DecodeTemplate(s)
			require.NoError(t, err)
			require.True(t, proto.Equal(want, got), "binary and JSON forms decode to the same template")
		})
	}
}

func TestDecodeTemplateBinaryErrors(t *testing.T) {
	// A custom list of n nulls: four bytes of binary per value.
	nulls := func(n int) *core.TaskTemplate {
		vs := make([]*structpb.Value, n)
		for i := range vs {
			vs[i] = structpb.NewNullValue()
		}
		return &core.TaskTemplate{Type: "ray", Custom: &structpb.Struct{Fields: map[string]*structpb.Value{
			"l": structpb.NewListValue(&structpb.ListValue{Values: vs})}}}
	}
	// n lists, each inside the one before.
	nested := func(n int) *core.TaskTemplate {
		v := structpb.NewNullValue()
		for range n {
			v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
		}
		return &core.TaskTemplate{Type: "ray", Custom: &structpb.Struct{Fields: map[string]*structpb.Value{"l": v}}}
	}
	cases := []struct {
		name, value string
		field       string
		wantErr     string
	}{
		{"bad base64", BinaryTemplatePrefix + "not*base64", TemplateField, "decode base64 after \"base64:\""},
		{"truncated base64", BinaryTemplatePrefix + "CgQ", TemplateField, "decode base64"},
		{"not protobuf", BinaryTemplatePrefix + base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff}), TemplateField, "decode binary task template"},
		{"truncated message", BinaryTemplatePrefix + base64.StdEncoding.EncodeToString([]byte{0x0a, 0x10, 0x01}), TemplateField, "decode binary task template"},
		{"empty template", BinaryTemplatePrefix, TemplateField + ".type", "task type is required"},
		{"more values than allowed", binaryOf(t, nulls(40_000)), TemplateField, "more than 32768 values"},
		{"nested too deep", binaryOf(t, nested(maxBinaryDepth+10)), TemplateField, "nested more than 10000 deep"},
		{"over the annotation limit", BinaryTemplatePrefix + strings.Repeat("AAAA", MaxAnnotationBytes/4), TemplateField, "more than the 262144 allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = DecodeTemplate(c.value) })
			require.ErrorContains(t, err, c.field+": ")
			require.ErrorContains(t, err, c.wantErr)
			// Refused having allocated about the input's size, never a
			// value's worth per value it holds.
			require.Less(t, n, uint64(4*len(c.value)+1<<20), "allocated %d bytes for %d bytes of input", n, len(c.value))
		})
	}
}

func TestDecodeTemplateBinaryWithinLimits(t *testing.T) {
	// Values up to the limit decode (each number is two values on the wire:
	// its Value and the number).
	vs := make([]*structpb.Value, 10_000)
	for i := range vs {
		vs[i] = structpb.NewNumberValue(float64(i))
	}
	tt := &core.TaskTemplate{Type: "dask", Custom: &structpb.Struct{Fields: map[string]*structpb.Value{
		"l": structpb.NewListValue(&structpb.ListValue{Values: vs})}}}
	got, err := DecodeTemplate(binaryOf(t, tt))
	require.NoError(t, err)
	require.True(t, proto.Equal(tt, got))
}

func TestCountWireValues(t *testing.T) {
	md := (&core.TaskTemplate{}).ProtoReflect().Descriptor()
	cases := []struct {
		name string
		msg  *core.TaskTemplate
		want int
	}{
		{"empty", &core.TaskTemplate{}, 0},
		{"one scalar", &core.TaskTemplate{Type: "spark"}, 1},
		{"a message and its fields", &core.TaskTemplate{Type: "spark", Id: &core.Identifier{Name: "n", Version: "v"}}, 4},
		{"a map entry counts its value, not its key", &core.TaskTemplate{Config: map[string]string{"a": "b"}}, 2},
		{"repeated strings one each", &core.TaskTemplate{Target: &core.TaskTemplate_Container{Container: &core.Container{Args: []string{"a", "b", "c"}}}}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin, err := proto.Marshal(c.msg)
			require.NoError(t, err)
			n, err := countWireValues(bin, md, 0, MaxTemplateValues)
			require.NoError(t, err)
			require.Equal(t, c.want, n)
		})
	}
}
