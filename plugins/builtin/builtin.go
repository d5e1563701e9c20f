// Package builtin registers the Spark, Ray and Dask plugins explicitly (no
// init-time registration).
package builtin

import (
	"github.com/flyte-admission/flyte-admission/internal/crds"
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

// CRDs lists the operator CRDs of the built-in plugins, for crds.Files.
func CRDs() []crds.Source {
	var out []crds.Source
	for _, p := range Registry().Plugins() {
		if c, ok := p.(interface{ CRDs() crds.Source }); ok {
			out = append(out, c.CRDs())
		}
	}
	return out
}
