// Package builtin registers the Spark, Ray and Dask plugins explicitly (no
// init-time registration).
package builtin

import (
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/dask"
	"github.com/flyte-admission/flyte-admission/plugins/ray"
	"github.com/flyte-admission/flyte-admission/plugins/spark"
)

// Registry returns a registry holding the three built-in plugins.
func Registry() *plugins.Registry {
	r, err := plugins.NewRegistry(spark.New(), ray.New(), dask.New())
	if err != nil {
		panic(err) // the built-in set is static: a clash is a programming error
	}
	return r
}
