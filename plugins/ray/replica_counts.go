package ray

import (
	"github.com/flyte-admission/flyte-admission/plugins"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// replicaCountErrors checks every worker group's replicas, minReplicas and
// maxReplicas with plugins.CountErrors, the count check of every kind, so
// that a refusal names the exact field (KubeRay's own validation names only
// the group, in a sentence).
func replicaCountErrors(cs *rayv1.RayClusterSpec) field.ErrorList {
	var counts []plugins.Count
	for i := range cs.WorkerGroupSpecs {
		g := &cs.WorkerGroupSpecs[i]
		p := field.NewPath("spec", "rayClusterSpec", "workerGroupSpecs").Index(i)
		counts = append(counts,
			plugins.Int32Count(p.Child("replicas"), g.Replicas),
			plugins.Int32Count(p.Child("minReplicas"), g.MinReplicas),
			plugins.Int32Count(p.Child("maxReplicas"), g.MaxReplicas))
	}
	return plugins.CountErrors(counts...)
}
