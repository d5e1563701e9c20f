package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// decodeExecutionOld is DecodeExecution as it was before the fast path: the
// reference the new code must match.
func decodeExecutionOld(s string) (Execution, error) {
	return decodeExecutionWith(s, func(s string) (Execution, error) { return decodeExecutionStd([]byte(s)) })
}

// checkExecution compares the new decoding with the old, for s as an
// annotation and s as the JSON bytes of one.
func checkExecution(t testing.TB, s string) {
	t.Helper()
	want, werr := decodeExecutionOld(s)
	got, gerr := DecodeExecution(s)
	requireSameError(t, werr, gerr)
	require.Equal(t, want, got, "DecodeExecution(%q)", s)

	want, werr = decodeExecutionStd([]byte(s))
	got, gerr = decodeExecutionJSON(s)
	requireSameError(t, werr, gerr)
	require.Equal(t, want, got, "decodeExecutionJSON(%q)", s)
}

func requireSameError(t testing.TB, want, got error) {
	t.Helper()
	if want == nil {
		require.NoError(t, got)
		return
	}
	require.Error(t, got, "the old code says %v", want)
	require.IsType(t, want, got)
	require.Equal(t, want.Error(), got.Error())
}

// executionCases are inputs of the execution decoder; fast tells whether the
// fast path decodes them (rather than encoding/json).
var executionCases = []struct {
	name string
	in   string
	fast bool
}{
	{"empty object", `{}`, true},
	{"every field", `{"project":"p","domain":"d","name":"n","node":"n1","retryAttempt":4294967295,"namespace":"p-d",
	  "serviceAccount":"sa","interruptible":true,"inputPrefix":"s3://b/i","outputPrefix":"s3://b/o","rawOutputPrefix":"s3://b/r",
	  "checkpointPrefix":"s3://b/c","previousCheckpointPrefix":"s3://b/pc","taskTemplatePath":"/t.pb",
	  "labels":{"a":"1","b":""},"annotations":{"x/y":"z"},"environment":{"K":"V"}}`, true},
	{"spaces", " {\n \"name\" : \"n\" ,\t\"labels\" : { \"a\" : \"1\" } , \"retryAttempt\" : 0 }\n", true},
	{"interruptible false", `{"interruptible":false}`, true},
	{"interruptible null", `{"interruptible":null}`, true},
	{"empty maps are not nil", `{"labels":{},"annotations":{},"environment":{}}`, true},
	{"repeated map key: last wins", `{"labels":{"a":"1","a":"2"}}`, true},
	{"unicode", `{"name":"ключ ☃","labels":{"é":"😀"}}`, true},
	{"HTML characters", `{"name":"<a&b>"}`, true},
	{"trailing data is not read", `{"name":"n"} {"bogus":1}`, true},

	{"YAML", "name: n\nretryAttempt: 2\nlabels:\n  a: b\n", false}, // fast once made JSON, but not as bytes given directly
	{"null", `null`, false},
	{"unknown field", `{"name":"n","bogus":1}`, false},
	{"case-folded name", `{"Name":"n","RETRYATTEMPT":1}`, false},
	{"repeated field", `{"name":"a","name":"b"}`, false},
	{"repeated map: merged", `{"labels":{"a":"1"},"labels":{"b":"2"}}`, false},
	{"null string", `{"name":null}`, false},
	{"null map", `{"labels":null}`, false},
	{"null map value", `{"labels":{"a":null}}`, false},
	{"number map value", `{"labels":{"a":1}}`, false},
	{"escaped string", `{"name":"a\u0041\n"}`, false},
	{"escaped key", `{"n\u0061me":"x"}`, false},
	{"negative retry", `{"retryAttempt":-1}`, false},
	{"fractional retry", `{"retryAttempt":1.0}`, false},
	{"exponent retry", `{"retryAttempt":1e2}`, false},
	{"retry overflow", `{"retryAttempt":4294967296}`, false},
	{"retry leading zero", `{"retryAttempt":01}`, false},
	{"retry as string", `{"retryAttempt":"1"}`, false},
	{"huge retry", `{"retryAttempt":123456789012345678901234567890}`, false},
	{"interruptible as string", `{"interruptible":"true"}`, false},
	{"interruptible garbage", `{"interruptible":truex}`, false},
	{"string for a map", `{"labels":"a=b"}`, false},
	{"trailing comma", `{"name":"n",}`, false},
	{"unterminated", `{"name":"n"`, false},
	{"not an object", `[1]`, false},
	{"string", `"s"`, false},
	{"control character", "{\"name\":\"a\tb\"}", false},
	{"invalid UTF-8", "{\"name\":\"a\xffb\"}", false},
	{"deep", `{"labels":` + strings.Repeat("[", 20000) + `}`, false},
}

func TestDecodeExecutionJSON(t *testing.T) {
	for _, c := range executionCases {
		t.Run(c.name, func(t *testing.T) {
			fellBack := 0
			executionFallbackHook = func() { fellBack++ }
			defer func() { executionFallbackHook = nil }()
			checkExecution(t, c.in)
			if c.fast {
				require.Zero(t, fellBack, "expected the fast path")
			} else {
				require.NotZero(t, fellBack, "expected a fallback to encoding/json")
			}
		})
	}
}

// conformanceExecutions returns the execution annotations of the
// conformance skeletons, by case name.
func conformanceExecutions(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../cmd/flyte-admission/testdata/conformance/*/*/skeleton.yaml")
	require.NoError(t, err)
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var obj struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		require.NoError(t, yaml.Unmarshal(data, &obj))
		if s, ok := obj.Metadata.Annotations[ExecutionAnnotation]; ok {
			out[filepath.Base(filepath.Dir(filepath.Dir(f)))+"/"+filepath.Base(filepath.Dir(f))] = s
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestExecutionFastPath checks that the conformance skeletons' execution
// annotations are decoded without encoding/json.
func TestExecutionFastPath(t *testing.T) {
	for name, s := range conformanceExecutions(t) {
		t.Run(name, func(t *testing.T) {
			fellBack := 0
			executionFallbackHook = func() { fellBack++ }
			defer func() { executionFallbackHook = nil }()
			checkExecution(t, s)
			require.Zero(t, fellBack)
		})
	}
}

// BenchmarkDecodeExecution compares DecodeExecution with the encoding/json
// code it replaces on conformance annotations.
func BenchmarkDecodeExecution(b *testing.B) {
	all := conformanceExecutions(b)
	for _, name := range []string{"spark/basic", "dask/basic", "ray/logs_sidecar_config"} {
		s, ok := all[name]
		require.True(b, ok, name)
		b.Run(name+"/new", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeExecution(s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/old", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeExecutionOld(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
