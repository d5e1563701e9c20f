package spark

import (
	"strconv"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/task"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// countKeys are the Spark properties that are executor counts.
var countKeys = [...]string{
	"spark.executor.instances",
	"spark.dynamicAllocation.initialExecutors",
	"spark.dynamicAllocation.minExecutors",
	"spark.dynamicAllocation.maxExecutors",
}

// countsOf are the executor counts written as integers in conf (other
// values are Spark's to judge); path names conf.
func countsOf(conf map[string]string, path *field.Path) []plugins.Count {
	var out []plugins.Count
	for _, k := range countKeys {
		if n, ok := confCount(conf, k); ok {
			out = append(out, plugins.Count{Path: path.Key(k), Value: n})
		}
	}
	return out
}

// confCount is conf[k] as an integer, if it is one.
func confCount(conf map[string]string, k string) (int64, bool) {
	s := strings.TrimSpace(conf[k])
	if s == "" {
		return 0, false // unset: no parse error to make
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// templateCountErrors refuses an executor count of the template's sparkConf
// that the SparkApplication could not hold (plugins.CountError, the check of
// every kind).
// The path is built only for an error.
func templateCountErrors(conf map[string]string) error {
	for _, k := range countKeys {
		if n, ok := confCount(conf, k); ok && !plugins.ValidCount(n) {
			return plugins.TemplateCountError(n, task.TemplateField, ".", field.NewPath("custom", "sparkConf").Key(k).String())
		}
	}
	return nil
}

// executorCountErrors checks the application's executor counts with
// plugins.CountErrors, the count check of every kind: instances, the dynamic
// allocation bounds, and the same properties in sparkConf.
func executorCountErrors(app *sparkv1beta2.SparkApplication) field.ErrorList {
	spec := field.NewPath("spec")
	counts := []plugins.Count{plugins.Int32Count(spec.Child("executor", "instances"), app.Spec.Executor.Instances)}
	if d := app.Spec.DynamicAllocation; d != nil {
		da := spec.Child("dynamicAllocation")
		counts = append(counts,
			plugins.Int32Count(da.Child("initialExecutors"), d.InitialExecutors),
			plugins.Int32Count(da.Child("minExecutors"), d.MinExecutors),
			plugins.Int32Count(da.Child("maxExecutors"), d.MaxExecutors))
	}
	counts = append(counts, countsOf(app.Spec.SparkConf, spec.Child("sparkConf"))...)
	return plugins.CountErrors(counts...)
}
