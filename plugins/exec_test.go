package plugins

import (
	"testing"

	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
)

// TestSecretAnnotationsAndLabel: a task's secrets become the annotations and
// label flytepropeller adds, with the exact bytes of flyteplugins v1.16.8.
func TestSecretAnnotationsAndLabel(t *testing.T) {
	tk, err := task.New("job", "ns", map[string]string{
		task.TemplateAnnotation:  `{"type":"spark","securityContext":{"secrets":[{"group":"db","key":"url","mountRequirement":"ENV_VAR"},{"key":"k"}]}}`,
		task.ExecutionAnnotation: `{"annotations":{"team":"a"},"labels":{"app":"x"}}`,
	})
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"team":             "a",
		"flyte.secrets/s0": "m4zg54lqhiqcezdceifgwzlzhiqce4lsnqrau2lpovxhix2smvyxk1lsmvwwk2tuhiqektswl4lecuqk",
		"flyte.secrets/s1": "nnsxsoraejvsecq",
	}, Annotations(tk))
	require.Equal(t, map[string]string{"app": "x", "inject-flyte-secrets": "true"}, Labels(tk))
}
