package ray

import (
	"fmt"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/tasklog"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Phase implements watch.Phaser (Flyte's GetTaskPhase for Ray).
func (Plugin) Phase(obj client.Object, cfg *config.Config, now time.Time) plugins.PhaseInfo {
	rj, ok := obj.(*rayv1.RayJob)
	if !ok {
		return plugins.PhaseInfo{Phase: plugins.PhaseUndefined, Reason: fmt.Sprintf("not a RayJob: %T", obj)}
	}
	st := rj.Status
	info := plugins.PhaseInfo{}
	switch st.JobDeploymentStatus {
	case rayv1.JobDeploymentStatusNew:
		info.Phase, info.Reason = plugins.PhaseQueued, "Scheduling"
	case rayv1.JobDeploymentStatusInitializing:
		info.Phase, info.Reason = plugins.PhaseInitializing, "cluster is creating"
	case rayv1.JobDeploymentStatusRunning:
		info.Phase = plugins.PhaseRunning
	case rayv1.JobDeploymentStatusComplete:
		info.Phase = plugins.PhaseSuccess
	case rayv1.JobDeploymentStatusSuspended:
		info.Phase, info.Reason = plugins.PhaseQueued, "Suspended"
	case rayv1.JobDeploymentStatusSuspending:
		info.Phase, info.Reason = plugins.PhaseQueued, "Suspending"
	case rayv1.JobDeploymentStatusFailed:
		info.Phase, info.Code = plugins.PhaseRetryableFailure, "TaskFailedWithError"
		info.Message = fmt.Sprintf("Failed to run Ray job %s with error: [%s] %s", rj.Name, st.Reason, st.Message)
	default:
		info.Phase = plugins.PhaseUndefined
		info.Message = fmt.Sprintf("unknown job deployment status: %s", st.JobDeploymentStatus)
		return info
	}
	logs, err := links(rj, &cfg.Plugins.Ray, now)
	if err != nil {
		info.Message += " (failed to generate task logs: " + err.Error() + ")"
	}
	info.Logs = logs
	return info
}

func links(rj *rayv1.RayJob, cfg *config.Ray, now time.Time) ([]tasklog.Link, error) {
	pc := plugins.NewPhaseContext(rj)
	in := tasklog.Input{Namespace: rj.Namespace, TaskExecution: pc.TaskExecution(), TaskConfig: pc.TaskConfig()}
	plugins.LogTimes(&in, rj.CreationTimestamp.Unix(), now.Unix())
	if rj.CreationTimestamp.IsZero() {
		plugins.LogTimes(&in, 0, now.Unix())
	}
	extra := map[string]string{}
	if rj.Status.JobId != "" {
		extra["rayJobID"] = rj.Status.JobId
	}
	if rj.Status.RayClusterName != "" {
		extra["rayClusterName"] = rj.Status.RayClusterName
	}
	in.ExtraVars = extra
	out, err := tasklog.Render(cfg.Logs, in)
	if err != nil {
		return out, err
	}
	if d := cfg.DashboardURLTemplate; d != nil && rj.Status.DashboardURL != "" && rj.Status.JobStatus == rayv1.JobStatusRunning {
		l, err := tasklog.Render(tasklog.LogConfig{TemplatePlugins: []tasklog.TemplateLogPlugin{*d}}, in)
		out = append(out, l...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// PodSpecs implements policy.PodLister.
func (Plugin) PodSpecs(obj client.Object) []plugins.PodSpecRef {
	rj, ok := obj.(*rayv1.RayJob)
	if !ok || rj.Spec.RayClusterSpec == nil {
		return nil
	}
	cs := rj.Spec.RayClusterSpec
	p := field.NewPath("spec", "rayClusterSpec")
	out := []plugins.PodSpecRef{{Path: p.Child("headGroupSpec", "template", "spec"), Spec: &cs.HeadGroupSpec.Template.Spec, Replicas: 1}}
	for i := range cs.WorkerGroupSpecs {
		g := &cs.WorkerGroupSpecs[i]
		gp := p.Child("workerGroupSpecs").Index(i)
		n, np := 1, (*field.Path)(nil)
		if g.MaxReplicas != nil {
			n, np = int(*g.MaxReplicas), gp.Child("maxReplicas")
		} else if g.Replicas != nil {
			n, np = int(*g.Replicas), gp.Child("replicas")
		}
		out = append(out, plugins.PodSpecRef{Path: gp.Child("template", "spec"), Spec: &g.Template.Spec, Replicas: n, ReplicasPath: np})
	}
	if s := rj.Spec.SubmitterPodTemplate; s != nil {
		out = append(out, plugins.PodSpecRef{Path: field.NewPath("spec", "submitterPodTemplate", "spec"), Spec: &s.Spec, Replicas: 1})
	}
	return out
}
