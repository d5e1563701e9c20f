package ray

import "github.com/flyte-admission/flyte-admission/internal/crds"

// CRDs names the operator's CustomResourceDefinitions of the kind (and those
// its objects create), in its Go module.
func (Plugin) CRDs() crds.Source {
	return crds.Source{
		Module: "github.com/ray-project/kuberay/ray-operator",
		Dir:    "config/crd/bases",
		Files: []string{
			"ray.io_rayjobs.yaml",
			"ray.io_rayclusters.yaml", // a RayJob creates (or selects) a RayCluster
		},
	}
}
