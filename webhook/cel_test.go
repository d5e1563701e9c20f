package webhook

import (
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/require"
)

// TestCELExpressions compiles the registration's CEL and runs it on objects
// with and without the annotations (the apiserver's own evaluation is
// covered end to end by the e2e suite).
func TestCELExpressions(t *testing.T) {
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType))
	require.NoError(t, err)
	eval := func(expr string, obj map[string]any) bool {
		ast, iss := env.Compile(expr)
		require.NoError(t, iss.Err())
		prg, err := env.Program(ast)
		require.NoError(t, err)
		out, _, err := prg.Eval(map[string]any{"object": obj})
		require.NoError(t, err)
		return out.Value().(bool)
	}
	obj := func(ann map[string]any) map[string]any {
		meta := map[string]any{"name": "x"}
		if ann != nil {
			meta["annotations"] = ann
		}
		return map[string]any{"metadata": meta}
	}
	cases := []struct {
		name                string
		obj                 map[string]any
		matches, admissible bool
	}{
		{"no annotations", obj(nil), false, true},
		{"other annotations", obj(map[string]any{"a": "b"}), false, true},
		{"skeleton", obj(map[string]any{"flyte.org/task-template": "t"}), true, false},
		{"expanded", obj(map[string]any{"flyte.org/task-template": "t", "flyte.org/expanded-from": "sha256:x"}), true, true},
	}
	deleting := obj(map[string]any{"flyte.org/task-template": "t"})
	deleting["metadata"].(map[string]any)["deletionTimestamp"] = "2026-05-01T12:00:00Z"
	require.False(t, eval(NotDeletingCEL, deleting), "objects being deleted are not checked")
	require.True(t, eval(NotDeletingCEL, obj(nil)))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.matches, eval(HasTemplateCEL, tc.obj), "mutating matchCondition")
			require.Equal(t, !tc.matches, eval(NoTemplateCEL, tc.obj), "the policies webhook gets exactly the others")
			require.Equal(t, tc.admissible, eval(UnexpandedCEL, tc.obj), "admission policy")
		})
	}
}
