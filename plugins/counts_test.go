package plugins

import (
	"math"
	"testing"

	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestCountError(t *testing.T) {
	p := field.NewPath("spec", "cluster", "spec", "worker", "replicas")
	cases := []struct {
		name  string
		value int64
		want  string // "" = valid
	}{
		{"zero", 0, ""},
		{"the largest int32", math.MaxInt32, ""},
		{"negative", -7, "spec.cluster.spec.worker.replicas: Invalid value: -7: must be greater than or equal to 0"},
		{"2^31", math.MaxInt32 + 1, "spec.cluster.spec.worker.replicas: Invalid value: 2147483648: must be less than or equal to 2147483647 (an int32)"},
		{"2^32-1 (a uint32 numberOfWorkers)", math.MaxUint32, "must be less than or equal to 2147483647"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CountError(Count{Path: p, Value: c.value})
			errs := CountErrors(Count{Path: p, Value: c.value}, Count{Path: p, Value: 1})
			tmpl := TemplateCountError(c.value, task.TemplateField, ".custom.workers", ".numberOfWorkers")
			if c.want == "" {
				require.Nil(t, err)
				require.Empty(t, errs)
				require.NoError(t, tmpl)
				return
			}
			require.NotNil(t, err)
			require.Contains(t, err.Error(), c.want)
			require.Len(t, errs, 1)
			var te *task.Error
			require.ErrorAs(t, tmpl, &te)
			require.Equal(t, "metadata.annotations[flyte.org/task-template].custom.workers.numberOfWorkers", te.Field)
		})
	}
	require.Empty(t, CountErrors(Int32Count(p, nil)), "an unset int32 count is not checked")
}
