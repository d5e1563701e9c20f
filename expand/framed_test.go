package expand

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestFramedPatch checks which expansions write their patch around the
// encoded spec: those whose spec the user left empty or out, on CREATE; and
// that the patch is then the one its operations encode to.
func TestFramedPatch(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "cmd", "flyte-admission", "testdata", "conformance", "spark", "basic", "skeleton.yaml"))
	require.NoError(t, err)
	x := Expander{Registry: builtin.Registry(), Env: plugins.Env{Config: config.Default()}}
	for _, tc := range []struct {
		name   string
		spec   any // nil: no spec member
		framed bool
		op     string
	}{
		{name: "empty spec", spec: map[string]any{}, framed: true, op: "replace"},
		{name: "no spec", framed: true, op: "add"},
		{name: "the user's own spec", spec: map[string]any{"mode": "cluster"}, framed: false, op: "add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := map[string]any{}
			require.NoError(t, yaml.Unmarshal(data, &obj))
			delete(obj, "spec")
			if tc.spec != nil {
				obj["spec"] = tc.spec
			}
			raw, err := json.Marshal(obj)
			require.NoError(t, err)
			res, err := x.ExpandRaw(context.Background(), raw, nil)
			require.NoError(t, err)
			require.Equal(t, tc.framed, res.framed != nil)
			require.Equal(t, tc.op, res.Patch[0].Op)
			got, err := res.PatchJSON()
			require.NoError(t, err)
			want, err := MarshalPatch(res.Patch)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
		})
	}
}
