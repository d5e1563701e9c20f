package builtin

import (
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/spark"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRegistry(t *testing.T) {
	r := Registry()
	require.Equal(t, []string{"dask", "ray", "spark"}, r.TaskTypes())
	for gk, tt := range map[schema.GroupKind]string{
		{Group: "sparkoperator.k8s.io", Kind: "SparkApplication"}: "spark",
		{Group: "ray.io", Kind: "RayJob"}:                         "ray",
		{Group: "kubernetes.dask.org", Kind: "DaskJob"}:           "dask",
	} {
		byKind, ok := r.ForKind(gk)
		require.True(t, ok, gk)
		byType, ok := r.ForTaskType(tt)
		require.True(t, ok, tt)
		require.Equal(t, byKind.Kind(), byType.Kind())
	}
	_, ok := r.ForKind(schema.GroupKind{Group: "ray.io", Kind: "RayCluster"})
	require.False(t, ok)

	_, err := plugins.NewRegistry(spark.New(), spark.New())
	require.ErrorContains(t, err, "registered twice")
}
