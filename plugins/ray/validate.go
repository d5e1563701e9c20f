package ray

import (
	"fmt"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/task"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Validate implements webhook.InvariantChecker. Every RayJob: KubeRay's own validation
// (kuberay_validation.go), worker counts (replica_counts.go), the submitter on the head image (submitter.go) and
// the configured logs sidecar (logs_sidecar.go). A Flyte RayJob (one carrying
// a task template) also: no submitter command (submitter.go) and the Ray
// containers first (ray_container_first.go).
func (Plugin) Validate(obj client.Object, cfg *config.Config) field.ErrorList {
	rj, ok := obj.(*rayv1.RayJob)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a RayJob: %T", obj))}
	}
	_, flyte := rj.Annotations[task.TemplateAnnotation]
	errs := kubeRayErrors(rj)
	errs = append(errs, submitterErrors(rj, flyte)...)
	if cs := rj.Spec.RayClusterSpec; cs != nil {
		errs = append(errs, replicaCountErrors(cs)...)
		if flyte {
			errs = append(errs, rayContainerFirstErrors(cs)...)
		}
		errs = append(errs, logsSidecarErrors(cs, &cfg.Plugins.Ray)...)
	}
	return errs
}
