package spark

import "github.com/flyte-admission/flyte-admission/internal/crds"

// CRDs names the operator's CustomResourceDefinitions of the kind (and those
// its objects create), in its Go module.
func (Plugin) CRDs() crds.Source {
	return crds.Source{
		Module: "github.com/kubeflow/spark-operator/v2",
		Dir:    "config/crd/bases",
		Files: []string{
			"sparkoperator.k8s.io_sparkapplications.yaml",
			"sparkoperator.k8s.io_scheduledsparkapplications.yaml",
		},
	}
}
