package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/internal/pbjson"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// seedAnnotations adds the task annotations of the examples and conformance
// cases to a fuzz corpus.
func seedAnnotations(f *testing.F, key string) {
	f.Helper()
	for _, s := range seedTexts(f, key) {
		f.Add(s)
	}
	f.Add("")
	f.Add("{}")
	f.Add("- a\n- b")
	f.Add("a: &a [*a, *a]")
	f.Add(strings.Repeat("[", 1000))
}

// seedTexts returns the annotation key of the examples' and the conformance
// skeletons' first objects, by file.
func seedTexts(tb testing.TB, key string) map[string]string {
	tb.Helper()
	files, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob("../cmd/flyte-admission/testdata/conformance/*/*/skeleton.yaml")
	out := map[string]string{}
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		var obj struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal(data, &obj) == nil && obj.Metadata.Annotations[key] != "" {
			out[file] = obj.Metadata.Annotations[key]
		}
	}
	return out
}

// FuzzDecodeTemplate: any text yields a template or an error naming the
// annotation, never a panic. The seeds hold every form: JSON, YAML and the
// binary form of the examples' templates.
func FuzzDecodeTemplate(f *testing.F) {
	seedAnnotations(f, TemplateAnnotation)
	for _, s := range []string{`{"type":"spark","container":{"image":"i","args":["a"]},"custom":{"l":[1,{"a":null}]}}`,
		`{"type":"ray","id":{"name":"t"},"config":{"k":"v"},"k8sPod":{"podSpec":{"containers":[{"name":"c"}]}}}`} {
		tt, err := DecodeTemplate(s)
		if err != nil {
			f.Fatal(err)
		}
		b, err := EncodeBinaryTemplate(tt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(BinaryTemplatePrefix + "CgQ=")
	f.Fuzz(func(t *testing.T, s string) {
		tt, err := DecodeTemplate(s)
		if err != nil {
			if !strings.Contains(err.Error(), TemplateField) {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		if tt.GetType() == "" {
			t.Fatal("a decoded template must have a type")
		}
		checkCustomText(t, s)
	})
}

// checkCustomText: where Custom decodes the custom member as written, it
// gets what decoding the Struct's JSON gets (Flyte's way), for each plugin's
// message.
func checkCustomText(t testing.TB, s string) {
	d, err := decodeTemplate(s)
	if err != nil || d.customJSON == "" {
		return
	}
	for _, m := range []proto.Message{&plugins.SparkJob{}, &plugins.RayJob{}, &plugins.DaskJob{}} {
		viaText := m.ProtoReflect().New().Interface()
		if pbjson.UnmarshalString(d.customJSON, viaText) != nil {
			continue // Custom takes the Struct's way
		}
		viaStruct := m.ProtoReflect().New().Interface()
		if err := DecodeCustom(d.template.GetCustom(), viaStruct); err != nil {
			t.Fatalf("%T: the text %s decodes, the Struct does not: %v", m, d.customJSON, err)
		}
		if !proto.Equal(viaText, viaStruct) {
			t.Fatalf("%T: the text %s decodes to %v, the Struct to %v", m, d.customJSON, viaText, viaStruct)
		}
	}
}

// FuzzDecodeExecution: any text yields an execution or an error naming the
// annotation, never a panic; and the same execution and error as the
// encoding/json decoding it replaces, also for JSON bytes given directly.
func FuzzDecodeExecution(f *testing.F) {
	seedAnnotations(f, ExecutionAnnotation)
	for _, c := range executionCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkExecution(t, s)
		if _, err := DecodeExecution(s); err != nil && !strings.Contains(err.Error(), ExecutionField) {
			t.Fatalf("error does not name the field: %v", err)
		}
		if _, err := New("n", "ns", map[string]string{TemplateAnnotation: `{"type":"spark"}`, ExecutionAnnotation: s}); err != nil &&
			!strings.Contains(err.Error(), "flyte.org/") {
			t.Fatalf("error does not name an annotation: %v", err)
		}
	})
}
