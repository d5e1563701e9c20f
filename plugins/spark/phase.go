package spark

import (
	"fmt"
	"strings"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/tasklog"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Phase implements watch.Phaser (Flyte's GetTaskPhase for Spark).
func (Plugin) Phase(obj client.Object, cfg *config.Config, _ time.Time) plugins.PhaseInfo {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return plugins.PhaseInfo{Phase: plugins.PhaseUndefined, Reason: fmt.Sprintf("not a SparkApplication: %T", obj)}
	}
	st := app.Status
	info := plugins.PhaseInfo{}
	switch st.AppState.State {
	case sparkv1beta2.ApplicationStateNew:
		info.Phase, info.Reason = plugins.PhaseQueued, "job queued"
	case sparkv1beta2.ApplicationStateSubmitted:
		info.Phase, info.Reason = plugins.PhaseInitializing, "job submitted"
	case sparkv1beta2.ApplicationStateFailedSubmission:
		info.Phase, info.Code = plugins.PhaseRetryableFailure, "DownstreamSystemError"
		info.Message = "Spark Job  Submission Failed with Error: " + st.AppState.ErrorMessage
	case sparkv1beta2.ApplicationStateFailed:
		info.Phase, info.Code = plugins.PhaseRetryableFailure, "DownstreamSystemError"
		info.Message = "Spark Job Failed with Error: " + st.AppState.ErrorMessage
	case sparkv1beta2.ApplicationStateCompleted:
		info.Phase = plugins.PhaseSuccess
	default:
		info.Phase = plugins.PhaseRunning
	}
	logs, err := links(app, &cfg.Plugins.Spark)
	if err != nil {
		info.Message = strings.TrimSpace(info.Message + " (log links: " + err.Error() + ")")
	}
	info.Logs = logs
	return info
}

// links is getEventInfoForSpark: driver, user, system and all-user logs, then
// the history server or the driver UI.
func links(app *sparkv1beta2.SparkApplication, cfg *config.Spark) ([]tasklog.Link, error) {
	pc := plugins.NewPhaseContext(app)
	st := app.Status
	state := st.AppState.State
	finished := state == sparkv1beta2.ApplicationStateCompleted || state == sparkv1beta2.ApplicationStateFailed
	var finish int64
	if finished && !st.TerminationTime.IsZero() {
		finish = st.TerminationTime.Unix()
	}
	base := tasklog.Input{Namespace: app.Namespace, TaskExecution: pc.TaskExecution()}
	plugins.LogTimes(&base, app.CreationTimestamp.Unix(), finish)
	if app.CreationTimestamp.IsZero() {
		plugins.LogTimes(&base, 0, finish)
	}
	var out []tasklog.Link
	render := func(c tasklog.LogConfig, podName, logName string, withTemplate bool) error {
		in := base
		in.PodName, in.LogName = podName, logName
		if withTemplate {
			in.TaskConfig = pc.TaskConfig()
		}
		l, err := tasklog.Render(c, in)
		out = append(out, l...)
		return err
	}
	driverPod := st.DriverInfo.PodName
	if driverPod != "" {
		if err := render(cfg.Logs.Mixed, driverPod, "(Driver Logs)", true); err != nil {
			return out, err
		}
	}
	if err := render(cfg.Logs.User, driverPod, "(User Logs)", false); err != nil {
		return out, err
	}
	if err := render(cfg.Logs.System, app.Name, "(System Logs)", false); err != nil {
		return out, err
	}
	n := len(out)
	if err := render(cfg.Logs.AllUser, app.Name, "(Spark-Submit/All User Logs)", false); err != nil {
		return out, err
	}
	for i := n; i < len(out); i++ {
		out[i].ShowWhilePending = true
	}
	switch {
	case finished && st.SparkApplicationID != "" && cfg.SparkHistoryServerURL != "":
		out = append(out, tasklog.Link{Name: "Spark History UI", URI: cfg.SparkHistoryServerURL + "/history/" + st.SparkApplicationID, MessageFormat: "JSON"})
	case state == sparkv1beta2.ApplicationStateRunning && st.DriverInfo.WebUIIngressAddress != "":
		uri := st.DriverInfo.WebUIIngressAddress
		if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") {
			uri = "https://" + uri
		}
		out = append(out, tasklog.Link{Name: "Spark Driver UI", URI: uri, MessageFormat: "JSON"})
	}
	return out, nil
}

// PodImage is the image a driver or executor (p, of app) runs: its own, else
// the application's.
func PodImage(app *sparkv1beta2.SparkApplication, p *sparkv1beta2.SparkPodSpec) string {
	if p.Image != nil {
		return *p.Image
	}
	if app.Spec.Image != nil {
		return *app.Spec.Image
	}
	return ""
}

// PodSpecs implements policy.PodLister. A SparkApplication has no pod specs, so
// the driver and executor are presented as one-container pods built from
// their SparkPodSpec fields.
func (Plugin) PodSpecs(obj client.Object) []plugins.PodSpecRef {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return nil
	}
	pod := func(p *sparkv1beta2.SparkPodSpec, name string) *corev1.PodSpec {
		spec := &corev1.PodSpec{
			Containers:     []corev1.Container{{Name: name, Image: PodImage(app, p), SecurityContext: p.SecurityContext}},
			InitContainers: p.InitContainers,
			Volumes:        app.Spec.Volumes,
			HostNetwork:    p.HostNetwork != nil && *p.HostNetwork,
		}
		spec.Containers = append(spec.Containers, p.Sidecars...)
		return spec
	}
	executors := 1
	if n := app.Spec.Executor.Instances; n != nil {
		executors = int(*n)
	}
	return []plugins.PodSpecRef{
		{Path: field.NewPath("spec", "driver"), Spec: pod(&app.Spec.Driver.SparkPodSpec, "spark-kubernetes-driver"), Replicas: 1},
		{Path: field.NewPath("spec", "executor"), Spec: pod(&app.Spec.Executor.SparkPodSpec, "spark-kubernetes-executor"), Replicas: executors},
	}
}
