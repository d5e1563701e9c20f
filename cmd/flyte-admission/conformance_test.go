package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/test/jsoncmp"
	"github.com/stretchr/testify/require"
)

// run runs the CLI in-process and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs(args)
	code := 0
	if err := cmd.Execute(); err != nil {
		errOut.WriteString(err.Error())
		code = exitCode(err)
	}
	return out.String(), errOut.String(), code
}

// TestConformance runs the cases made by Flyte 1.16.8's own plugin code
// (testdata/conformance, copied from the shared set; see its README).
func TestConformance(t *testing.T) {
	runConformance(t, "testdata/conformance")
}

// TestConformanceFlytekit runs the cases whose task templates flytekit 1.16.24
// serialized itself and whose expected outputs Flyte 1.16.8's plugins built
// (testdata/conformance-flytekit, copied from the shared set; see its README).
func TestConformanceFlytekit(t *testing.T) {
	runConformance(t, "testdata/conformance-flytekit")
}

// runConformance runs every case under root/<kind>/<case> by the comparison
// contract of the conformance README.
func runConformance(t *testing.T, root string) {
	dirs, err := filepath.Glob(filepath.Join(root, "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		t.Run(strings.TrimPrefix(dir, root+"/"), func(t *testing.T) {
			var args []string
			if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
				args = append(args, "--config", filepath.Join(dir, "config.yaml"))
			}
			var expected map[string]any
			data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &expected))

			if strings.HasPrefix(filepath.Base(dir), "phase-") {
				out, stderr, code := run(t, append([]string{"phase", "-f", filepath.Join(dir, "object.json"), "-o", "json"}, args...)...)
				require.Equal(t, 0, code, stderr)
				var got map[string]any
				require.NoError(t, json.Unmarshal([]byte(out), &got))
				require.Equal(t, expected["phase"], got["phase"])
				require.Equal(t, linkPairs(expected["logs"]), linkPairs(got["logs"]), "log links")
				return
			}
			expectExpansion(t, dir, filepath.Join(dir, "skeleton.yaml"), expected, args)
		})
	}
}

// expectExpansion expands skeleton (with args, e.g. the case's --config)
// and compares the result with expected, the output of a build case in dir,
// by the comparison contract of the conformance README.
func expectExpansion(t *testing.T, dir, skeleton string, expected map[string]any, args []string) {
	t.Helper()
	// Where our output deviates from Flyte's so that the operators
	// accept and run it, Flyte's expectation becomes ours first
	// (deviations_test.go, each a row of the README table).
	if applied := applyDeviations(filepath.Base(filepath.Dir(dir)), expected, caseOf(t, dir)); len(applied) > 0 {
		t.Logf("documented deviations from Flyte 1.16.8 applied: %s", strings.Join(applied, ", "))
	}
	out, stderr, code := run(t, append([]string{"expand", "-f", skeleton, "-o", "json"}, args...)...)
	if msg, ok := expected["error"]; ok {
		require.NotEqual(t, 0, code, "Flyte refused this task (%v) but expand succeeded", msg)
		require.NotEmpty(t, stderr)
		return
	}
	require.Equal(t, 0, code, stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	got = expandedObject(t, got)
	want := normalize(expected["spec"])
	have := normalize(got["spec"])
	require.NotEmpty(t, want)
	require.Empty(t, jsoncmp.Diff("spec", want, have, nil))
}

// expandedObject picks the expanded task object out of expand's output: the
// object itself, or, where the skeleton was followed by the PodTemplates it
// names, the one item of the list that is not a PodTemplate.
func expandedObject(t *testing.T, got map[string]any) map[string]any {
	t.Helper()
	items, ok := got["items"].([]any)
	if !ok {
		return got
	}
	var found []map[string]any
	for _, it := range items {
		obj, _ := it.(map[string]any)
		if obj["kind"] != "PodTemplate" {
			found = append(found, obj)
		}
	}
	require.Len(t, found, 1, "expand's output holds one task object")
	return found[0]
}

// linkPairs keeps the name and URI of each link, in order.
func linkPairs(v any) [][2]string {
	list, _ := v.([]any)
	out := [][2]string{}
	for _, l := range list {
		m, _ := l.(map[string]any)
		name, _ := m["name"].(string)
		uri, _ := m["uri"].(string)
		out = append(out, [2]string{name, uri})
	}
	return out
}

// normalize applies the comparison rules of the conformance README: empty
// values dropped, env lists keyed by name, the Spark start time ignored.
func normalize(v any) any {
	return jsoncmp.Normalize(v, jsoncmp.Options{EnvByName: true, Ignore: map[string]bool{jsoncmp.StartTime: true}})
}

// caseOf reads what the deviations need from a case's skeleton.
func caseOf(t *testing.T, dir string) conformanceCase {
	objs, err := objects.ReadPath(filepath.Join(dir, "skeleton.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	// The task object comes first; PodTemplates it names may follow.
	meta, _ := objs[0].Map["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	return conformanceCase{Namespace: ns}
}
