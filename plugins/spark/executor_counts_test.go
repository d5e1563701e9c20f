package spark

import (
	"testing"

	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
)

// TestTemplateCountErrors checks the template's executor counts and the
// field path a refusal names (built only for an error).
func TestTemplateCountErrors(t *testing.T) {
	cases := []struct {
		name  string
		conf  map[string]string
		field string // "" = accepted
		msg   string
	}{
		{"no counts", nil, "", ""},
		{"a valid count with spaces", map[string]string{"spark.executor.instances": " 3 "}, "", ""},
		{"not a number is Spark's to judge", map[string]string{"spark.executor.instances": "many"}, "", ""},
		{"blank is unset", map[string]string{"spark.executor.instances": "  "}, "", ""},
		{"negative instances", map[string]string{"spark.executor.instances": "-1"},
			task.TemplateField + ".custom.sparkConf[spark.executor.instances]", "greater than or equal to 0"},
		{"max executors past int32", map[string]string{"spark.executor.instances": "2", "spark.dynamicAllocation.maxExecutors": "2147483648"},
			task.TemplateField + ".custom.sparkConf[spark.dynamicAllocation.maxExecutors]", "2147483647"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := templateCountErrors(c.conf)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			var te *task.Error
			require.ErrorAs(t, err, &te)
			require.Equal(t, c.field, te.Field)
			require.ErrorContains(t, err, c.msg)
		})
	}
}
