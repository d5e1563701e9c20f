package ray

import (
	"fmt"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invariant: the Ray container comes first in the head, worker and submitter
// pods.
//
// KubeRay takes containers[0] (utils.RayContainerIndex) as the Ray container:
// common.BuildPod puts `ray start` into it and GetSubmitterTemplate /
// configureSubmitterContainer make it the submitter. Flyte 1.16.8 keeps the
// task pod's order, so a k8sPod whose sidecar precedes the primary container
// ([envoy, main]) gets `ray start` in the sidecar. The expansion moves the
// primary container to the front (rayContainerFirst) and the check
// (rayContainerFirstErrors) refuses a Flyte RayJob where it is not.

// rayContainerFirst moves spec.Containers[i] to the front, keeping the order
// of the others; it returns the new index of the container (0).
func rayContainerFirst(spec *corev1.PodSpec, i int) int {
	if i <= 0 || i >= len(spec.Containers) {
		return i
	}
	c := spec.Containers[i]
	copy(spec.Containers[1:i+1], spec.Containers[:i])
	spec.Containers[0] = c
	return 0
}

// rayContainerFirstErrors checks that the head and worker pods of a Flyte
// RayJob run their Ray container first.
func rayContainerFirstErrors(cs *rayv1.RayClusterSpec) field.ErrorList {
	var errs field.ErrorList
	check := func(p *field.Path, spec *corev1.PodSpec, want string) {
		for i := range spec.Containers {
			if spec.Containers[i].Name == want && i != 0 {
				errs = append(errs, field.Invalid(p.Child("containers").Index(i).Child("name"), want,
					fmt.Sprintf("KubeRay runs Ray in containers[0] (%q here): the %s container must come first", spec.Containers[0].Name, want)))
			}
		}
	}
	p := field.NewPath("spec", "rayClusterSpec")
	check(p.Child("headGroupSpec", "template", "spec"), &cs.HeadGroupSpec.Template.Spec, HeadContainer)
	for i := range cs.WorkerGroupSpecs {
		check(p.Child("workerGroupSpecs").Index(i).Child("template", "spec"), &cs.WorkerGroupSpecs[i].Template.Spec, WorkerContainer)
	}
	return errs
}
