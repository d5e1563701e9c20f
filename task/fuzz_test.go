package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// seedAnnotations adds the task annotations of the examples and conformance
// cases to a fuzz corpus.
func seedAnnotations(f *testing.F, key string) {
	f.Helper()
	files, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob("../cmd/flyte-admission/testdata/conformance/*/*/skeleton.yaml")
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var obj struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal(data, &obj) == nil && obj.Metadata.Annotations[key] != "" {
			f.Add(obj.Metadata.Annotations[key])
		}
	}
	f.Add("")
	f.Add("{}")
	f.Add("- a\n- b")
	f.Add("a: &a [*a, *a]")
	f.Add(strings.Repeat("[", 1000))
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
	})
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
