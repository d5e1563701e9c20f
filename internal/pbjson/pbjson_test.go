package pbjson

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	celproto2 "cel.dev/expr/conformance/proto2"
	celproto3 "cel.dev/expr/conformance/proto3"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"
)

const conformanceDir = "../../cmd/flyte-admission/testdata/conformance"

// template is the task-template annotation of one test object.
type template struct {
	name string // e.g. spark/basic or bench/spark-large
	json []byte
}

// templates reads the task-template annotations of the conformance cases and
// of the benchmark inputs.
func templates(tb testing.TB) []template {
	tb.Helper()
	files, err := filepath.Glob(conformanceDir + "/*/*/skeleton.yaml")
	require.NoError(tb, err)
	bench, err := filepath.Glob("../../test/bench/testdata/*.yaml")
	require.NoError(tb, err)
	var out []template
	for _, file := range append(files, bench...) {
		data, err := os.ReadFile(file)
		require.NoError(tb, err)
		var obj struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		require.NoError(tb, yaml.Unmarshal(data, &obj), file)
		raw := strings.TrimSpace(obj.Metadata.Annotations["flyte.org/task-template"])
		if raw == "" {
			continue
		}
		js := []byte(raw)
		if !strings.HasPrefix(raw, "{") {
			js, err = yaml.YAMLToJSON(js)
			require.NoError(tb, err, file)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(file, conformanceDir+"/"), "/skeleton.yaml")
		if strings.HasPrefix(file, "../../test/") {
			name = "bench/" + strings.TrimSuffix(filepath.Base(file), ".yaml")
		}
		out = append(out, template{name: name, json: js})
	}
	require.NotEmpty(tb, out)
	return out
}

// pluginMessage returns an empty plugin message for a task type, or nil.
func pluginMessage(taskType string) proto.Message {
	switch taskType {
	case "spark":
		return &plugins.SparkJob{}
	case "dask":
		return &plugins.DaskJob{}
	case "ray":
		return &plugins.RayJob{}
	}
	return nil
}

func protojsonUnmarshal(data []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, m)
}

// requireSame checks Unmarshal against protojson on data: the same error
// text, or equal messages.
func requireSame(t *testing.T, data []byte, newMsg func() proto.Message) {
	t.Helper()
	want := newMsg()
	wantErr := protojsonUnmarshal(data, want)
	for name, unmarshal := range map[string]func(proto.Message) error{
		"Unmarshal":       func(m proto.Message) error { return Unmarshal(data, m) },
		"UnmarshalString": func(m proto.Message) error { return UnmarshalString(string(data), m) },
	} {
		got := newMsg()
		err := unmarshal(got)
		if wantErr != nil {
			require.Error(t, err, name)
			require.Equal(t, wantErr.Error(), err.Error(), name)
			continue
		}
		require.NoError(t, err, name)
		require.True(t, proto.Equal(want, got), "%s: got %v\nwant %v", name, got, want)
	}
}

// requireFast checks that the fast path alone decodes data, to protojson's
// result.
func requireFast(t *testing.T, data []byte, newMsg func() proto.Message) {
	t.Helper()
	want := newMsg()
	require.NoError(t, protojsonUnmarshal(data, want))
	got := newMsg()
	require.True(t, decodeFast(string(data), got), "the fast path gave up on %s", data)
	require.True(t, proto.Equal(want, got), "got %v\nwant %v", got, want)
}

func newTemplate() proto.Message { return &core.TaskTemplate{} }

func TestTemplatesTakeTheFastPath(t *testing.T) {
	for _, tc := range templates(t) {
		t.Run(tc.name, func(t *testing.T) {
			requireFast(t, tc.json, newTemplate)
			requireSame(t, tc.json, newTemplate)
		})
	}
}

func TestCustomTakesTheFastPath(t *testing.T) {
	n := 0
	for _, tc := range templates(t) {
		tt := &core.TaskTemplate{}
		require.NoError(t, protojsonUnmarshal(tc.json, tt), tc.name)
		plugin := pluginMessage(tt.GetType())
		if plugin == nil || tt.GetCustom() == nil {
			continue
		}
		custom, err := protojson.Marshal(tt.GetCustom())
		require.NoError(t, err)
		newMsg := func() proto.Message { return plugin.ProtoReflect().New().Interface() }
		t.Run(tc.name, func(t *testing.T) {
			requireFast(t, custom, newMsg)
			requireSame(t, custom, newMsg)
		})
		n++
	}
	require.Greater(t, n, 10)
}

// testCase is an input and the type to decode it into.
type testCase struct {
	name   string
	in     string
	newMsg func() proto.Message
}

// fastCases are inputs the fast path must handle itself, to protojson's
// result.
var fastCases = []testCase{
	{"empty object", `{}`, newTemplate},
	{"whitespace", " \t\r\n{ \"type\" \n:\t\"spark\" , \"id\" : { } }\n ", newTemplate},
	{"proto names", `{"task_type_version":3,"security_context":{"run_as":{"k8s_service_account":"sa"}}}`, newTemplate},
	{"json names", `{"taskTypeVersion":3,"securityContext":{"runAs":{"k8sServiceAccount":"sa"}}}`, newTemplate},
	{"escapes", `{"type":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u4e2d\ud83d\ude00"}`, newTemplate},
	{"escaped key", `{"\u0074ype":"x"}`, newTemplate},
	{"raw UTF-8 and U+FFFD", `{"type":"é中😀` + "\uFFFD" + `"}`, newTemplate},
	{"escaped NUL", `{"type":"\u0000"}`, newTemplate},
	{"unknown fields skipped", `{"zz":{"a":[1,-2.5e3,true,false,null,"s\n",{}],"b":{}},"type":"t","yy":[]}`, newTemplate},
	{"unknown field repeated", `{"zz":1,"zz":2}`, newTemplate},
	{"@ and [ inside skipped values", `{"zz":{"@type":1,"[x]":2}}`, newTemplate},
	{"int32 forms", `{"taskTypeVersion":-2147483648}`, newTemplate},
	{"int32 quoted", `{"taskTypeVersion":"2147483647"}`, newTemplate},
	{"int32 quoted escaped", `{"taskTypeVersion":"\u0031\u0032"}`, newTemplate},
	{"minus zero", `{"taskTypeVersion":-0}`, newTemplate},
	{"uint32", `{"metadata":{"retries":{"retries":4294967295}}}`, newTemplate},
	{"enum by name", `{"id":{"resourceType":"TASK"},"metadata":{"runtime":{"type":"FLYTE_SDK"}}}`, newTemplate},
	{"repeated and null", `{"container":{"args":["a","b"],"command":null,"env":[{"key":"k","value":"v"}]}}`, newTemplate},
	{"empty list and map", `{"container":{"args":[]},"config":{}}`, newTemplate},
	{"map", `{"config":{"a":"1","b":"","\u00e9":"x"}}`, newTemplate},
	{"null message", `{"metadata":null,"custom":null}`, newTemplate},
	{"oneof member null then other", `{"container":null,"k8sPod":{}}`, newTemplate},
	{"struct", `{"custom":{"s":"x","n":1.5,"i":-3,"e":1e300,"b":true,"f":false,"z":null,"o":{"a":[1,"x",null,[],{}]},"l":[]}}`, newTemplate},
	{"empty struct", `{"custom":{}}`, newTemplate},
	{"duration", `{"metadata":{"timeout":"3600s"}}`, newTemplate},
	{"duration fraction", `{"metadata":{"timeout":"1.5s"}}`, newTemplate},
	{"duration negative", `{"metadata":{"timeout":"-2.000000001s"}}`, newTemplate},
	{"duration zero", `{"metadata":{"timeout":"0s"}}`, newTemplate},
	{"duration max", `{"metadata":{"timeout":"315576000000.999999999s"}}`, newTemplate},
	{"wrapper", `{"metadata":{"generatesDeck":true}}`, newTemplate},
	{"top-level Struct", `{"a":{"b":[1]}}`, func() proto.Message { return &structpb.Struct{} }},
	{"top-level Value null", ` null `, func() proto.Message { return &structpb.Value{} }},
	{"top-level Value number", `12.5`, func() proto.Message { return &structpb.Value{} }},
	{"top-level ListValue", `[1,"a",null]`, func() proto.Message { return &structpb.ListValue{} }},
	{"top-level Duration", `"5s"`, func() proto.Message { return &durationpb.Duration{} }},
	{"top-level Int64Value quoted", `"-9223372036854775808"`, func() proto.Message { return &wrapperspb.Int64Value{} }},
	{"top-level UInt64Value", `18446744073709551615`, func() proto.Message { return &wrapperspb.UInt64Value{} }},
	{"top-level FloatValue", `3.4e38`, func() proto.Message { return &wrapperspb.FloatValue{} }},
	{"top-level DoubleValue", `-0.0`, func() proto.Message { return &wrapperspb.DoubleValue{} }},
	{"spark map", `{"sparkConf":{"a":"b"},"applicationType":"PYTHON"}`, func() proto.Message { return &plugins.SparkJob{} }},
	{"ray nested", `{"rayCluster":{"workerGroupSpec":[{"groupName":"g","replicas":"2","rayStartParams":{"a":"b"}}],"enableAutoscaling":true}}`,
		func() proto.Message { return &plugins.RayJob{} }},
	{"dask", `{"workers":{"numberOfWorkers":3,"resources":{"limits":[{"name":"CPU","value":"1"}]}}}`, func() proto.Message { return &plugins.DaskJob{} }},
	{"dynamic message", `{"name":"n","tags":["a","b"],"byName":{"x":"y"},"byNumber":null,"custom":null}`, newDynamic},
	// TestAllTypes (of CEL's conformance tests) has a field of every kind.
	{"all scalar kinds", `{"singleInt32":-1,"singleInt64":"-2","singleUint32":3,"singleUint64":"18446744073709551615",` +
		`"singleSint32":-4,"singleSint64":-5,"singleFixed32":6,"singleFixed64":7,"singleSfixed32":-8,"singleSfixed64":-9,` +
		`"singleFloat":1.5,"singleDouble":-2.5e-3,"singleBool":true,"singleString":"s","standaloneEnum":"BAZ"}`, newAllTypes3},
	{"explicit presence of zero values", `{"optionalBool":false,"optionalString":""}`, newAllTypes3},
	{"keyword field", `{"in":true}`, newAllTypes3},
	{"Value field null", `{"singleValue":null}`, newAllTypes3},
	{"Value field", `{"singleValue":{"a":[1,null]}}`, newAllTypes3},
	{"repeated Value with nulls", `{"repeatedValue":[null,1,"x"]}`, newAllTypes3},
	{"map of Values with nulls", `{"mapStringValue":{"a":null,"b":{}}}`, newAllTypes3},
	{"wrappers", `{"singleInt64Wrapper":"5","singleInt32Wrapper":-1,"singleDoubleWrapper":1.5,"singleFloatWrapper":2,` +
		`"singleUint64Wrapper":7,"singleUint32Wrapper":8,"singleStringWrapper":"s","singleBoolWrapper":false}`, newAllTypes3},
	{"null wrappers", `{"singleInt64Wrapper":null,"singleBoolWrapper":null}`, newAllTypes3},
	{"repeated wrappers and durations", `{"repeatedInt32Wrapper":[1,2],"repeatedDuration":["1s","2.5s"]}`, newAllTypes3},
	{"maps of messages and enums", `{"mapStringMessage":{"a":{"bb":1}},"mapStringEnum":{"a":"BAR"},"mapStringDuration":{"a":"1s"}}`, newAllTypes3},
	{"struct and list value fields", `{"singleStruct":{"a":1},"listValue":[true],"repeatedStruct":[{}],"repeatedListValue":[[]]}`, newAllTypes3},
	{"oneof member null then other", `{"singleNestedMessage":null,"singleNestedEnum":"BAR"}`, newAllTypes3},
	{"proto2 group by both names", `{"NestedGroup":{"singleId":1},"singleInt32":2}`, newAllTypes2},
	{"proto2 group by JSON name", `{"nestedgroup":{"single_name":"x"}}`, newAllTypes2},
	{"proto2 required field set", `{"requiredInt32":1}`, func() proto.Message { return &celproto2.TestRequired{} }},
}

// dynamicType is a message type known only at run time, with a map keyed by
// numbers and a Struct (whose dynamic form the fast path leaves to protojson):
//
//	message Dynamic {
//	  string name = 1; repeated string tags = 2;
//	  map<string, string> by_name = 3; map<int32, string> by_number = 4;
//	  google.protobuf.Struct custom = 5;
//	}
var dynamicType = func() protoreflect.MessageType {
	const opt, rep = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	const str, msg = descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	field := func(name string, n int32, label descriptorpb.FieldDescriptorProto_Label, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Label: label.Enum(), Type: typ.Enum()}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	entry := func(name string, key descriptorpb.FieldDescriptorProto_Type) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{
			Name:    proto.String(name),
			Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, opt, key, ""), field("value", 2, opt, str, "")},
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
		}
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("pbjson_test/dynamic.proto"),
		Package:    proto.String("pbjson_test"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/struct.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Dynamic"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("name", 1, opt, str, ""),
				field("tags", 2, rep, str, ""),
				field("by_name", 3, rep, msg, ".pbjson_test.Dynamic.ByNameEntry"),
				field("by_number", 4, rep, msg, ".pbjson_test.Dynamic.ByNumberEntry"),
				field("custom", 5, opt, msg, ".google.protobuf.Struct"),
			},
			NestedType: []*descriptorpb.DescriptorProto{
				entry("ByNameEntry", str),
				entry("ByNumberEntry", descriptorpb.FieldDescriptorProto_TYPE_INT32),
			},
		}},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
}()

func newDynamic() proto.Message { return dynamicType.New().Interface() }

func newAllTypes3() proto.Message { return &celproto3.TestAllTypes{} }
func newAllTypes2() proto.Message { return &celproto2.TestAllTypes{} }

func TestFastPath(t *testing.T) {
	for _, tc := range fastCases {
		t.Run(tc.name, func(t *testing.T) {
			requireFast(t, []byte(tc.in), tc.newMsg)
			requireSame(t, []byte(tc.in), tc.newMsg)
		})
	}
}

// bailCases are inputs the fast path deliberately leaves to protojson.
var bailCases = []testCase{
	// Syntax errors.
	{"empty input", ``, newTemplate},
	{"not an object", `[]`, newTemplate},
	{"unterminated", `{"type":"x"`, newTemplate},
	{"trailing comma", `{"type":"x",}`, newTemplate},
	{"missing colon", `{"type" "x"}`, newTemplate},
	{"trailing data", `{"type":"x"} {}`, newTemplate},
	{"trailing garbage", `{"type":"x"}x`, newTemplate},
	{"literal without delimiter", `{"zz":nullx}`, newTemplate},
	{"bad number in unknown field", `{"zz":01}`, newTemplate},
	{"protojson's loose number in unknown field", `{"zz":1e}`, newTemplate},
	{"bad escape", `{"type":"\x"}`, newTemplate},
	{"control character", "{\"type\":\"a\tb\"}", newTemplate},
	{"invalid UTF-8", "{\"type\":\"\xff\"}", newTemplate},
	{"invalid UTF-8 in skipped value", "{\"zz\":\"\xc3\"}", newTemplate},
	{"lone high surrogate", `{"type":"\ud83d"}`, newTemplate},
	{"lone low surrogate", `{"type":"\ude00x"}`, newTemplate},
	{"high surrogate then non-surrogate", `{"type":"\ud83d\u0041"}`, newTemplate},
	{"bad hex", `{"type":"\u00g0"}`, newTemplate},
	{"single quotes", `{'type':'x'}`, newTemplate},
	// Types and forms left to protojson.
	{"BytesValue", `"aGk="`, func() proto.Message { return &wrapperspb.BytesValue{} }},
	{"bytes field", `{"value":"aGk="}`, func() proto.Message { return &core.Binary{} }},
	{"timestamp", `{"scalar":{"primitive":{"datetime":"2024-01-01T00:00:00Z"}}}`, func() proto.Message { return &core.Literal{} }},
	{"Any", `{"@type":"type.googleapis.com/google.protobuf.Empty"}`, func() proto.Message { return &anypb.Any{} }},
	{"Empty", `{}`, func() proto.Message { return &emptypb.Empty{} }},
	{"enum by number", `{"id":{"resourceType":1}}`, newTemplate},
	{"unknown enum name", `{"id":{"resourceType":"NOPE"}}`, newTemplate},
	{"int exponent", `{"taskTypeVersion":1e2}`, newTemplate},
	{"int fraction", `{"taskTypeVersion":1.0}`, newTemplate},
	{"int quoted with space", `{"taskTypeVersion":" 1"}`, newTemplate},
	{"int quoted two numbers", `{"taskTypeVersion":"1 2"}`, newTemplate},
	{"int32 overflow", `{"taskTypeVersion":2147483648}`, newTemplate},
	{"int32 underflow", `{"taskTypeVersion":-2147483649}`, newTemplate},
	{"uint32 negative", `{"metadata":{"retries":{"retries":-1}}}`, newTemplate},
	{"uint32 minus zero", `{"metadata":{"retries":{"retries":-0}}}`, newTemplate},
	{"uint32 overflow", `{"metadata":{"retries":{"retries":4294967296}}}`, newTemplate},
	{"uint64 overflow", `18446744073709551616`, func() proto.Message { return &wrapperspb.UInt64Value{} }},
	{"int64 overflow", `9223372036854775808`, func() proto.Message { return &wrapperspb.Int64Value{} }},
	{"float NaN", `"NaN"`, func() proto.Message { return &wrapperspb.DoubleValue{} }},
	{"float Infinity", `"Infinity"`, func() proto.Message { return &wrapperspb.FloatValue{} }},
	{"float quoted", `"1.5"`, func() proto.Message { return &wrapperspb.DoubleValue{} }},
	{"float32 out of range", `3.5e38`, func() proto.Message { return &wrapperspb.FloatValue{} }},
	{"Value number out of range", `{"custom":{"a":1e400}}`, newTemplate},
	{"bool quoted", `{"metadata":{"interruptible":"true"}}`, newTemplate},
	{"string given a number", `{"type":1}`, newTemplate},
	{"duplicate field", `{"type":"a","type":"b"}`, newTemplate},
	{"duplicate field by both names", `{"taskTypeVersion":1,"task_type_version":2}`, newTemplate},
	{"duplicate field first null", `{"type":null,"type":"b"}`, newTemplate},
	{"oneof twice", `{"container":{},"k8sPod":{}}`, newTemplate},
	{"duplicate map key", `{"config":{"a":"1","a":"2"}}`, newTemplate},
	{"duplicate struct key", `{"custom":{"a":1,"a":2}}`, newTemplate},
	{"extension key", `{"[foo.bar]":1}`, newTemplate},
	{"@type key", `{"@type":"x"}`, newTemplate},
	{"null in list", `{"container":{"args":["a",null]}}`, newTemplate},
	{"null in map", `{"config":{"a":null}}`, newTemplate},
	{"null message in list", `{"container":{"env":[null]}}`, newTemplate},
	{"null repeated Value", `{"values":null}`, func() proto.Message { return &structpb.ListValue{} }},
	{"null at top level", `null`, newTemplate},
	{"deep nesting", `{"custom":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 200) + `}`, newTemplate},
	{"deep unknown", `{"zz":` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}`, newTemplate},
	{"duration plus", `{"metadata":{"timeout":"+1s"}}`, newTemplate},
	{"duration leading dot", `{"metadata":{"timeout":".5s"}}`, newTemplate},
	{"duration empty fraction", `{"metadata":{"timeout":"1.s"}}`, newTemplate},
	{"duration ten fraction digits", `{"metadata":{"timeout":"1.0000000001s"}}`, newTemplate},
	{"duration out of range", `{"metadata":{"timeout":"315576000001s"}}`, newTemplate},
	{"duration no unit", `{"metadata":{"timeout":"1"}}`, newTemplate},
	{"duration leading zero", `{"metadata":{"timeout":"01s"}}`, newTemplate},
	{"duration number", `{"metadata":{"timeout":1}}`, newTemplate},
	{"wrapper given null at top level", `null`, func() proto.Message { return &wrapperspb.StringValue{} }},
	{"Struct given a list", `[]`, func() proto.Message { return &structpb.Struct{} }},
	{"FieldMask", `"a,b.c"`, func() proto.Message { return &fieldmaskpb.FieldMask{} }},
	{"non-string map key", `{"byNumber":{"1":"a"}}`, newDynamic},
	{"dynamic Struct", `{"custom":{"a":1}}`, newDynamic},
	{"NullValue field null", `{"nullValue":null}`, newAllTypes3},
	{"NullValue field by name", `{"optionalNullValue":"NULL_VALUE"}`, newAllTypes3},
	{"repeated Value null", `{"repeatedValue":null}`, newAllTypes3},
	{"map of NullValues", `{"mapStringNullValue":{"a":null}}`, newAllTypes3},
	{"bytes field", `{"singleBytes":"aGk="}`, newAllTypes3},
	{"bool map keys", `{"mapBoolString":{"true":"a"}}`, newAllTypes3},
	{"int32 map keys", `{"mapInt32String":{"1":"a"}}`, newAllTypes3},
	{"Any field", `{"singleAny":{"@type":"type.googleapis.com/google.protobuf.Empty","value":{}}}`, newAllTypes3},
	{"Timestamp field", `{"singleTimestamp":"2024-01-01T00:00:00Z"}`, newAllTypes3},
	{"FieldMask field", `{"fieldMask":"a,b"}`, newAllTypes3},
	{"Empty field", `{"empty":{}}`, newAllTypes3},
	{"BytesValue field", `{"singleBytesWrapper":"aGk="}`, newAllTypes3},
	{"wrapper given null in a list", `{"repeatedInt32Wrapper":[null]}`, newAllTypes3},
	{"enum number", `{"standaloneEnum":1}`, newAllTypes3},
	{"unknown enum name in a list", `{"repeatedNestedEnum":["FOO","NOPE"]}`, newAllTypes3},
	{"quoted float", `{"singleFloat":"1.5"}`, newAllTypes3},
	{"NaN double", `{"singleDouble":"NaN"}`, newAllTypes3},
	{"float exponent too big", `{"singleFloat":1e39}`, newAllTypes3},
	{"oneof set twice", `{"singleNestedMessage":{},"singleNestedEnum":"BAR"}`, newAllTypes3},
	{"oneof Value null counts as set", `{"singleValue":null,"singleValue":1}`, newAllTypes3},
	{"proto2 required field missing", `{}`, func() proto.Message { return &celproto2.TestRequired{} }},
	{"proto2 group given twice by both names", `{"NestedGroup":{},"nestedgroup":{}}`, newAllTypes2},
}

// TestBailOuts: the fast path gives up, leaves the message empty, and
// Unmarshal returns protojson's result and error.
func TestBailOuts(t *testing.T) {
	for _, tc := range bailCases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.newMsg()
			require.False(t, decodeFast(tc.in, got), "the fast path should leave %q to protojson", tc.in)
			require.True(t, proto.Equal(got, tc.newMsg()), "the fast path left a half-written message: %v", got)
			requireSame(t, []byte(tc.in), tc.newMsg)
		})
	}
}

// TestConcurrent decodes several types at once, building their tables
// concurrently (run with -race).
func TestConcurrent(t *testing.T) {
	tcs := templates(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j, tc := range tcs {
				var m proto.Message = &core.TaskTemplate{}
				if (i+j)%2 == 0 {
					m = &structpb.Struct{}
				}
				want := m.ProtoReflect().New().Interface()
				wantErr := protojsonUnmarshal(tc.json, want)
				if err := Unmarshal(tc.json, m); (err == nil) != (wantErr == nil) || !proto.Equal(want, m) {
					t.Errorf("%s: got %v, %v; want %v, %v", tc.name, m, err, want, wantErr)
				}
			}
		}()
	}
	wg.Wait()
}

// TestUnmarshalResets: like protojson, Unmarshal replaces what m held, on
// the fast path and on the fallback.
func TestUnmarshalResets(t *testing.T) {
	for _, in := range []string{`{"type":"b"}`, `{"type":"b","type":"c"}`, `{"id":{"resourceType":2}}`} {
		want := &core.TaskTemplate{Type: "a", TaskTypeVersion: 7}
		wantErr := protojsonUnmarshal([]byte(in), want)
		got := &core.TaskTemplate{Type: "a", TaskTypeVersion: 7}
		err := Unmarshal([]byte(in), got)
		require.Equal(t, wantErr == nil, err == nil, in)
		require.True(t, proto.Equal(want, got), in)
	}
}

// TestStringsDoNotAliasInput: the caller may reuse data after Unmarshal.
func TestStringsDoNotAliasInput(t *testing.T) {
	data := []byte(`{"type":"spark"}`)
	tt := &core.TaskTemplate{}
	require.NoError(t, Unmarshal(data, tt))
	copy(data, bytes.Repeat([]byte("x"), len(data)))
	require.Equal(t, "spark", tt.GetType())
}

func BenchmarkUnmarshal(b *testing.B) {
	all := map[string][]byte{}
	for _, tc := range templates(b) {
		all[tc.name] = tc.json
	}
	for _, name := range []string{"spark/basic", "dask/basic", "ray/logs_sidecar_config"} {
		data := all[name]
		require.NotNil(b, data, name)
		b.Run(name+"/pbjson", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := Unmarshal(data, &core.TaskTemplate{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/protojson", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := protojsonUnmarshal(data, &core.TaskTemplate{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDirectFields checks that the string fields of the generated types are
// written to their structs (not boxed through protoreflect), and that a
// dynamic message of the same type still goes through protoreflect.
func TestDirectFields(t *testing.T) {
	for _, tc := range []struct {
		msg   proto.Message
		field string
		want  directKind
	}{
		{&core.Container{}, "image", directString},
		{&core.Container{}, "args", directStrings},
		{&core.Container{}, "env", viaReflect}, // a list of messages
		{&plugins.SparkJob{}, "sparkConf", directMap},
		{&plugins.SparkJob{}, "mainApplicationFile", directString},
		{&core.TaskTemplate{}, "type", directString},
		{&core.TaskTemplate{}, "container", viaReflect},
	} {
		fi := infoFor(tc.msg.ProtoReflect().Descriptor()).fields[tc.field]
		require.NotNil(t, fi, tc.field)
		require.Equal(t, tc.want, fi.direct, "%T.%s", tc.msg, tc.field)
	}
	dyn := dynamicpb.NewMessage((&core.Container{}).ProtoReflect().Descriptor())
	require.Nil(t, structOf(dyn, infoFor(dyn.Descriptor())), "a dynamic message has no generated struct")
	require.NoError(t, UnmarshalString(`{"image":"a","args":["1"]}`, dyn))
	require.Equal(t, "a", dyn.Get(dyn.Descriptor().Fields().ByName("image")).String())
}

// TestDirectFieldsAllocateLess counts what decoding a container's strings
// allocates: the list and the map once each, not a box per value.
func TestDirectFieldsAllocateLess(t *testing.T) {
	in := `{"image":"a","args":["1","2","3","4","5","6","7","8"],"command":["x","y"]}`
	allocs := testing.AllocsPerRun(100, func() {
		var c core.Container
		if err := UnmarshalString(in, &c); err != nil {
			t.Fatal(err)
		}
	})
	// The container, and two lists (the args grow 1, 2, 4, 8).
	require.LessOrEqual(t, allocs, 7.0)
	spark := `{"sparkConf":{"a":"1","b":"2","c":"3","d":"4"},"mainApplicationFile":"f"}`
	allocs = testing.AllocsPerRun(100, func() {
		var j plugins.SparkJob
		if err := UnmarshalString(spark, &j); err != nil {
			t.Fatal(err)
		}
	})
	require.LessOrEqual(t, allocs, 3.0, "the job and its map")
}

func TestMember(t *testing.T) {
	for _, tc := range []struct {
		in, name, want string
		ok             bool
	}{
		{in: `{"a":1,"custom":{"x":[1,"}"]},"b":2}`, name: "custom", want: `{"x":[1,"}"]}`, ok: true},
		{in: ` { "custom" : "v" } `, name: "custom", want: `"v"`, ok: true},
		{in: `{"cust\u006fm":null}`, name: "custom", want: `null`, ok: true},
		{in: `{"a":1}`, name: "custom"},
		{in: `{"a":}`, name: "a"},
		{in: `[1]`, name: "a"},
		{in: `{}`, name: "a"},
	} {
		got, ok := Member(tc.in, tc.name)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}
