package ray

import (
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	kuberay "github.com/ray-project/kuberay/ray-operator/controllers/ray/utils"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// KubeRay's own validation of a RayJob (ray-operator v1.6,
// controllers/ray/utils/validation.go), called rather than re-implemented:
// ValidateRayJobMetadata is what KubeRay's validating webhook runs
// (pkg/webhooks/v1/rayjob_webhook.go) and ValidateRayJobSpec (with
// ValidateRayClusterSpec) what its controller runs before it creates anything
// (a failure marks the job ValidationFailed). The expansion is checked against
// both, so the webhook never admits a RayJob the operator will refuse.

// kubeRayErrors runs KubeRay's validation on rj. KubeRay reports its first
// failure as a sentence; the error names the field it is about where that can
// be told (a worker group by index, the head group, a job field).
func kubeRayErrors(rj *rayv1.RayJob) field.ErrorList {
	var errs field.ErrorList
	// The apiserver names an object before validating admission; an empty
	// name (generateName, or an offline file) is not KubeRay's to judge.
	if rj.Name != "" {
		if err := kuberay.ValidateRayJobMetadata(rj.ObjectMeta); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), rj.Name, err.Error()))
		}
	}
	if err := kuberay.ValidateRayJobSpec(rj); err != nil {
		errs = append(errs, field.Invalid(kubeRayField(rj, err.Error()), field.OmitValueType{}, "KubeRay refuses this RayJob: "+err.Error()))
	}
	return errs
}

// validateRayJobName is KubeRay's name rule, for the expansion (the name is
// the object's; an empty one is generated later).
func validateRayJobName(name string) error {
	if name == "" {
		return nil
	}
	return kuberay.ValidateRayJobMetadata(metav1.ObjectMeta{Name: name})
}

// jobFields are the RayJob spec fields KubeRay's job-level messages name, in
// the order to look for them (the first named is the one to change).
var jobFields = []string{
	"ttlSecondsAfterFinished", "activeDeadlineSeconds", "preRunningDeadlineSeconds", "backoffLimit",
	"deletionStrategy", "clusterSelector", "submitterPodTemplate", "submitterConfig", "runtimeEnvYAML",
	"shutdownAfterJobFinishes", "suspend",
}

// kubeRayField finds the field a KubeRay message is about: the cluster
// validation is re-run on the head group alone and on each worker group
// alone to place its failure; job-level messages are matched by the fields
// they name.
func kubeRayField(rj *rayv1.RayJob, msg string) *field.Path {
	spec := field.NewPath("spec")
	if cs := rj.Spec.RayClusterSpec; cs != nil {
		p := spec.Child("rayClusterSpec")
		if err := kuberay.ValidateRayClusterSpec(cs, rj.Annotations); err != nil && strings.HasSuffix(msg, err.Error()) {
			only := *cs
			only.WorkerGroupSpecs = nil
			if err := kuberay.ValidateRayClusterSpec(&only, rj.Annotations); err != nil {
				return p.Child("headGroupSpec")
			}
			for i := range cs.WorkerGroupSpecs {
				only.WorkerGroupSpecs = cs.WorkerGroupSpecs[i : i+1]
				if err := kuberay.ValidateRayClusterSpec(&only, rj.Annotations); err != nil {
					return p.Child("workerGroupSpecs").Index(i)
				}
			}
			return p
		}
	}
	lower := strings.ToLower(msg)
	for _, f := range jobFields {
		if strings.Contains(lower, strings.ToLower(f)) {
			return spec.Child(f)
		}
	}
	return spec
}
