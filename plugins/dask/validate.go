package dask

import (
	"fmt"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Validate implements webhook.InvariantChecker: the worker count is a valid count
// (plugins.CountErrors, the check of every kind) and, when a dashboard log
// template is configured, the scheduler serves the dashboard under its
// prefix.
func (Plugin) Validate(obj client.Object, cfg *config.Config) field.ErrorList {
	dj, ok := obj.(*daskv1.DaskJob)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a DaskJob: %T", obj))}
	}
	errs := plugins.CountErrors(plugins.Count{Path: field.NewPath("spec", "cluster", "spec", "worker", "replicas"),
		Value: int64(dj.Spec.Cluster.Spec.Worker.Replicas)})
	return append(errs, dashboardErrors(dj, cfg)...)
}

// PodSpecs implements policy.PodLister.
func (Plugin) PodSpecs(obj client.Object) []plugins.PodSpecRef {
	dj, ok := obj.(*daskv1.DaskJob)
	if !ok {
		return nil
	}
	c := field.NewPath("spec", "cluster", "spec")
	return []plugins.PodSpecRef{
		{Path: field.NewPath("spec", "job", "spec"), Spec: &dj.Spec.Job.Spec, Replicas: 1},
		{Path: c.Child("scheduler", "spec"), Spec: &dj.Spec.Cluster.Spec.Scheduler.Spec, Replicas: 1},
		{Path: c.Child("worker", "spec"), Spec: &dj.Spec.Cluster.Spec.Worker.Spec, Replicas: dj.Spec.Cluster.Spec.Worker.Replicas,
			ReplicasPath: c.Child("worker", "replicas")},
	}
}
