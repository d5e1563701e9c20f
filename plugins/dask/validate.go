package dask

import (
	"fmt"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Validate implements plugins.Plugin: the worker count is a valid count
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

// dashboardErrors: when a dashboard log template is configured, the scheduler
// must serve the dashboard under its prefix.
func dashboardErrors(dj *daskv1.DaskJob, cfg *config.Config) field.ErrorList {
	pc := plugins.NewPhaseContext(dj)
	want, err := DashboardPrefix(&cfg.Plugins.Dask.Logs, pc.Exec.Namespace, pc.TaskExecution())
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("spec", "cluster", "spec", "scheduler"), err)}
	}
	if want == "" {
		return nil
	}
	p := field.NewPath("spec", "cluster", "spec", "scheduler", "spec", "containers")
	containers := dj.Spec.Cluster.Spec.Scheduler.Spec.Containers
	for i := range containers {
		if containers[i].Name != SchedulerContainer && len(containers) > 1 {
			continue
		}
		args := containers[i].Args
		ap := p.Index(i).Child("args")
		for j := 0; j < len(args); j++ {
			if args[j] != DashboardPrefixFlag {
				continue
			}
			if j+1 >= len(args) || args[j+1] != want {
				got := ""
				if j+1 < len(args) {
					got = args[j+1]
				}
				return field.ErrorList{field.Invalid(ap.Index(j+1), got, fmt.Sprintf("the dashboard prefix must be %q (from plugins.dask.logs)", want))}
			}
			return nil
		}
		return field.ErrorList{field.Required(ap, fmt.Sprintf("the scheduler needs %s %s: a dashboard log template is configured (plugins.dask.logs)", DashboardPrefixFlag, want))}
	}
	return field.ErrorList{field.Required(p, "the scheduler pod has no scheduler container")}
}

// PodSpecs implements plugins.Plugin.
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
