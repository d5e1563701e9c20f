package dask

import "github.com/flyte-admission/flyte-admission/internal/crds"

// The helm chart's crds/ holds the rendered CRDs;
// dask_kubernetes/operator/customresources/ only has un-rendered bases.
// CRDs names the operator's CustomResourceDefinitions of the kind (and those
// its objects create), in its Go module.
func (Plugin) CRDs() crds.Source {
	return crds.Source{
		Module: "github.com/dask/dask-kubernetes/v2023",
		Dir:    "dask_kubernetes/operator/deployment/helm/dask-kubernetes-operator/crds",
		Files: []string{
			"daskjob.yaml",
			"daskcluster.yaml",
			"daskworkergroup.yaml",
			"daskautoscaler.yaml",
		},
	}
}
