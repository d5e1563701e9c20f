package expand

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestFramedPatch checks which expansions write their patch around the
// encoded spec: those whose spec the user left empty or out, on CREATE; and
// that the patch is then the one its operations encode to, and the one Diff
// finds between the input and the expanded object.
func TestFramedPatch(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "cmd", "flyte-admission", "testdata", "conformance", "spark", "basic", "skeleton.yaml"))
	require.NoError(t, err)
	withFinalizer := config.Default()
	withFinalizer.Plugins.K8s.InjectFinalizer = true
	withFinalizer.Plugins.K8s.DefaultLabels = map[string]string{"team": "gen", "a/b~c": "x"}
	for _, tc := range []struct {
		name   string
		cfg    *config.Config
		spec   any            // nil: no spec member
		meta   map[string]any // set in the skeleton's metadata
		framed bool
		op     string
		// direct: the metadata operations were written without Diff.
		direct bool
	}{
		{name: "empty spec", spec: map[string]any{}, framed: true, op: "replace", direct: true},
		{name: "no spec", framed: true, op: "add", direct: true},
		{name: "the user's own spec", spec: map[string]any{"mode": "cluster"}, framed: false, op: "add"},
		{name: "the user's labels win", cfg: withFinalizer, meta: map[string]any{"labels": map[string]any{"team": "mine", "other": "y"}}, framed: true, op: "add", direct: true},
		{name: "a stale marker is replaced", meta: map[string]any{"annotations+": map[string]any{task.ExpandedFromAnnotation: "sha256:old"}}, framed: true, op: "add", direct: true},
		{name: "finalizers and labels added", cfg: withFinalizer, framed: true, op: "add", direct: true},
		{name: "the user's finalizers", cfg: withFinalizer, meta: map[string]any{"finalizers": []any{"x"}}, framed: true, op: "add"},
		{name: "null labels", meta: map[string]any{"labels": nil}, framed: true, op: "add"},
		{name: "labels not a map", meta: map[string]any{"labels": "x"}, framed: true, op: "add"},
		{name: "a label that is not a string", meta: map[string]any{"labels": map[string]any{"n": json.Number("1")}}, framed: true, op: "add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == nil {
				cfg = config.Default()
			}
			x := Expander{Registry: builtin.Registry(), Env: plugins.Env{Config: cfg}}
			obj := map[string]any{}
			require.NoError(t, yaml.Unmarshal(data, &obj))
			delete(obj, "spec")
			if tc.spec != nil {
				obj["spec"] = tc.spec
			}
			meta := obj["metadata"].(map[string]any)
			for k, v := range tc.meta {
				if k == "annotations+" {
					for ak, av := range v.(map[string]any) {
						meta["annotations"].(map[string]any)[ak] = av
					}
					continue
				}
				meta[k] = v
			}
			raw, err := json.Marshal(obj)
			require.NoError(t, err)
			res, err := x.ExpandRaw(context.Background(), raw, nil)
			require.NoError(t, err)
			require.Equal(t, tc.framed, res.framed != nil)
			require.Equal(t, tc.direct, res.merge != nil, "metadata operations written without Diff")
			require.Equal(t, tc.op, res.Patch[0].Op)
			got, err := res.PatchJSON()
			require.NoError(t, err)
			want, err := MarshalPatch(res.Patch)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))

			input, err := DecodeObject(raw)
			require.NoError(t, err)
			diffed, err := MarshalPatch(specFirst(Diff(input, res.Object())))
			require.NoError(t, err)
			require.Equal(t, string(diffed), string(got), "the patch is Diff's between the input and the expanded object")
		})
	}
}

// specFirst returns ops with the operation on /spec (if any) moved first,
// the order of a patch written around the encoded spec.
func specFirst(ops []Op) []Op {
	i := slices.IndexFunc(ops, func(o Op) bool { return o.Path == "/spec" })
	if i <= 0 {
		return ops
	}
	return append(append([]Op{ops[i]}, ops[:i]...), ops[i+1:]...)
}
