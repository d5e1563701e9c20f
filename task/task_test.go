package task

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExecutionDefaults(t *testing.T) {
	cases := []struct {
		name, namespace, execution string
		want                       Execution
	}{
		{"project-domain namespace", "flytesnacks-development", "",
			Execution{Project: "flytesnacks", Domain: "development", Name: "job", Node: "n0", Namespace: "flytesnacks-development", TaskTemplatePath: DefaultTaskTemplatePath}},
		{"plain namespace", "ml", "",
			Execution{Project: "ml", Domain: "development", Name: "job", Node: "n0", Namespace: "ml", TaskTemplatePath: DefaultTaskTemplatePath}},
		{"given values win", "a-b", `{"project":"p","domain":"d","name":"e","node":"n3","retryAttempt":2}`,
			Execution{Project: "p", Domain: "d", Name: "e", Node: "n3", RetryAttempt: 2, Namespace: "a-b", TaskTemplatePath: DefaultTaskTemplatePath}},
		{"YAML form", "a-b", "name: e\nnode: n1\n",
			Execution{Project: "a", Domain: "b", Name: "e", Node: "n1", Namespace: "a-b", TaskTemplatePath: DefaultTaskTemplatePath}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ExecutionFor("job", c.namespace, map[string]string{ExecutionAnnotation: c.execution})
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestDecodeTemplateForms(t *testing.T) {
	for name, s := range map[string]string{
		"camelCase":              `{"type":"ray","taskTypeVersion":1,"container":{"image":"i"},"extendedResources":{"gpuAccelerator":{"device":"a100"}}}`,
		"snake_case":             `{"type":"ray","task_type_version":1,"container":{"image":"i"},"extended_resources":{"gpu_accelerator":{"device":"a100"}}}`,
		"YAML":                   "type: ray\ntaskTypeVersion: 1\ncontainer: {image: i}\nextendedResources: {gpuAccelerator: {device: a100}}\n",
		"unknown fields ignored": `{"type":"ray","taskTypeVersion":1,"future":{"x":1},"container":{"image":"i"},"extendedResources":{"gpuAccelerator":{"device":"a100"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			tt, err := DecodeTemplate(s)
			require.NoError(t, err)
			require.Equal(t, "ray", tt.GetType())
			require.Equal(t, int32(1), tt.GetTaskTypeVersion())
			require.Equal(t, "i", tt.GetContainer().GetImage())
			require.Equal(t, "a100", tt.GetExtendedResources().GetGpuAccelerator().GetDevice())
		})
	}
}

func TestCacheSharesDecodedTemplates(t *testing.T) {
	ann := map[string]string{TemplateAnnotation: `{"type":"dask","container":{"image":"cache-test"}}`}
	a, err := New("a", "ns", ann)
	require.NoError(t, err)
	a.Keep()
	b, err := New("b", "ns", ann)
	require.NoError(t, err)
	require.Same(t, a.Template, b.Template)
	SetCacheBytes(0)
	defer SetCacheBytes(DefaultCacheBytes)
	c, err := New("c", "ns", ann)
	require.NoError(t, err)
	require.NotSame(t, a.Template, c.Template)
}

// TestCustomText: the examples' and conformance templates' custom members
// are decoded as written (not through the Struct's JSON), to the same
// messages; a number the Struct would rewrite keeps the Struct's way.
func TestCustomText(t *testing.T) {
	n := 0
	for name, s := range seedTexts(t, TemplateAnnotation) {
		d, err := decodeTemplate(s)
		if err != nil || d.template.GetCustom() == nil {
			continue
		}
		if d.customJSON != "" {
			n++
		}
		t.Run(name, func(t *testing.T) { checkCustomText(t, s) })
	}
	require.Greater(t, n, 10, "templates whose custom member is decoded as written")
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{`{"a":[1,-2,"3.5e9"],"b":{"c":123456789012345}}`, true},
		{`{"a":1.0}`, false},
		{`{"a":1e3}`, false},
		{`{"a":1234567890123456}`, false},
		{`{"a":"x\"1.5"}`, true},
	} {
		require.Equal(t, tc.ok, integersOnly(tc.text), tc.text)
	}
}
