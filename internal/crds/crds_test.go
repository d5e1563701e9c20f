package crds_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/flyte-admission/flyte-admission/internal/crds"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
)

func TestFiles(t *testing.T) {
	// file name -> group and kind of the CRD it must hold.
	want := map[string]struct{ group, kind string }{
		"sparkoperator.k8s.io_sparkapplications.yaml":          {"sparkoperator.k8s.io", "SparkApplication"},
		"sparkoperator.k8s.io_scheduledsparkapplications.yaml": {"sparkoperator.k8s.io", "ScheduledSparkApplication"},
		"ray.io_rayjobs.yaml":                                  {"ray.io", "RayJob"},
		"ray.io_rayclusters.yaml":                              {"ray.io", "RayCluster"},
		"daskjob.yaml":                                         {"kubernetes.dask.org", "DaskJob"},
		"daskcluster.yaml":                                     {"kubernetes.dask.org", "DaskCluster"},
		"daskworkergroup.yaml":                                 {"kubernetes.dask.org", "DaskWorkerGroup"},
		"daskautoscaler.yaml":                                  {"kubernetes.dask.org", "DaskAutoscaler"},
	}

	files, err := crds.Files(builtin.CRDs())
	require.NoError(t, err)
	require.Len(t, files, len(want))

	seen := map[string]bool{}
	for _, f := range files {
		require.True(t, filepath.IsAbs(f), "not absolute: %s", f)
		name := filepath.Base(f)
		w, ok := want[name]
		require.True(t, ok, "unexpected CRD file %s", f)
		require.False(t, seen[name], "CRD file %s returned twice", name)
		seen[name] = true

		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var crd apiextensionsv1.CustomResourceDefinition
		require.NoError(t, yaml.UnmarshalStrict(data, &crd), "parse %s", f)
		require.Equal(t, "apiextensions.k8s.io/v1", crd.APIVersion, f)
		require.Equal(t, "CustomResourceDefinition", crd.Kind, f)
		require.Equal(t, w.group, crd.Spec.Group, f)
		require.Equal(t, w.kind, crd.Spec.Names.Kind, f)
		require.Equal(t, crd.Spec.Names.Plural+"."+crd.Spec.Group, crd.Name, f)
		require.NotEmpty(t, crd.Spec.Versions, f)
		for _, v := range crd.Spec.Versions {
			if v.Served {
				require.NotNil(t, v.Schema, "%s version %s has no schema", f, v.Name)
				require.NotNil(t, v.Schema.OpenAPIV3Schema, "%s version %s has no schema", f, v.Name)
			}
		}
	}
}

func TestFilesFromSubdirectory(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	a, err := crds.Files(builtin.CRDs())
	require.NoError(t, err)
	b, err := crds.FilesFrom(filepath.Join(wd, "..", "test"), builtin.CRDs())
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestFilesFromOutsideAModule(t *testing.T) {
	_, err := crds.FilesFrom(t.TempDir(), builtin.CRDs())
	require.ErrorContains(t, err, "no go.mod")
}
