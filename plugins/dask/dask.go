// Package dask is Flyte's Dask plugin at admission: it expands a dask task into
// a DaskJob (job runner, scheduler with the dashboard prefix of the configured
// log templates, workers sized from their resources), checks the prefix on
// every DaskJob and maps job states to Flyte phases.
package dask

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyte-admission/flyte-admission/tasklog"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	flyteplugins "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GVK is the DaskJob kind.
var GVK = schema.GroupVersionKind{Group: "kubernetes.dask.org", Version: "v1", Kind: "DaskJob"}

// Container names the dask operator and Flyte use.
const (
	JobRunnerContainer = "job-runner"
	SchedulerContainer = "scheduler"
	WorkerContainer    = "dask-worker"
)

// Plugin is the Dask plugin.
type Plugin struct{}

// New returns the Dask plugin.
func New() Plugin { return Plugin{} }

// Kind implements plugins.Plugin.
func (Plugin) Kind() schema.GroupVersionKind { return GVK }

// TaskTypes implements plugins.TaskTyper.
func (Plugin) TaskTypes() []string { return []string{"dask"} }

// NewObject implements plugins.Plugin.
func (Plugin) NewObject() client.Object { return &daskv1.DaskJob{} }

const customField = task.TemplateField + ".custom"

// Expand implements expand.Plugin (Flyte's BuildResource for Dask).
func (Plugin) Expand(_ context.Context, t *task.Task, env plugins.Env) (client.Object, error) {
	msg, err := t.Custom(&flyteplugins.DaskJob{})
	if err != nil {
		return nil, task.BadSpec(customField, "invalid TaskSpecification [%s], failed to unmarshal: %v", t.Template.GetCustom(), err)
	}
	job := msg.(*flyteplugins.DaskJob)
	res, err := podspec.Build(t, env.Config, env.Templates, t.Interruptible())
	if err != nil {
		return nil, err
	}
	// The scheduler and runner are never interruptible: for a task that is
	// not, they run the workers' pod, built once.
	var stable podspec.Result
	if t.Interruptible() {
		stable, err = podspec.Build(t, env.Config, env.Templates, false)
	} else {
		stable, err = res.Reuse(t)
	}
	if err != nil {
		return nil, err
	}
	labels := podspec.UnionMaps(res.Labels, plugins.Labels(t))
	annotations := podspec.UnionMaps(res.Annotations, plugins.Annotations(t))
	platform := podspec.PlatformOf(env.Config)
	// The DaskJob is made once; its pods are built in place in it. res is
	// the worker's alone, so no copy; stable is copied for the scheduler and
	// then is the job runner's.
	j := jobs.Get()
	dj := &j.DaskJob
	cluster := &dj.Spec.Cluster.Spec

	worker := &cluster.Worker.Spec
	*worker = res.Spec
	if err := rolePod(worker, res.Primary, WorkerContainer, job.GetWorkers().GetImage(), job.GetWorkers().GetResources(), platform, customField+".workers.resources"); err != nil {
		return nil, err
	}
	wc := &worker.Containers[podspec.ContainerIndex(worker, WorkerContainer)]
	wc.Args = []string{"dask-worker", "--name", "$(DASK_WORKER_NAME)"}
	if wc.Resources.Limits != nil {
		wc.Args = append(wc.Args,
			"--nthreads", strconv.FormatInt(wc.Resources.Limits.Cpu().Value(), 10),
			"--memory-limit", wc.Resources.Limits.Memory().String())
	}
	worker.RestartPolicy = corev1.RestartPolicyAlways

	pc := plugins.PhaseContext{Exec: t.Exec, Template: t.Template, Name: t.Name}
	prefix, err := DashboardPrefix(&env.Config.Plugins.Dask.Logs, t.Exec.Namespace, pc.TaskExecution())
	if err != nil {
		return nil, err
	}
	scheduler := &cluster.Scheduler.Spec
	*scheduler = podspec.Copy(&stable.Spec, 0)
	if err := rolePod(scheduler, stable.Primary, SchedulerContainer, job.GetScheduler().GetImage(), job.GetScheduler().GetResources(), platform, customField+".scheduler.resources"); err != nil {
		return nil, err
	}
	sc := &scheduler.Containers[podspec.ContainerIndex(scheduler, SchedulerContainer)]
	sc.Args = schedulerArgs(prefix)
	sc.Ports = []corev1.ContainerPort{
		{Name: "tcp-comm", ContainerPort: 8786, Protocol: corev1.ProtocolTCP},
		{Name: "dashboard", ContainerPort: 8787, Protocol: corev1.ProtocolTCP},
	}
	scheduler.RestartPolicy = corev1.RestartPolicyAlways

	runner := &dj.Spec.Job.Spec
	*runner = stable.Spec
	runner.RestartPolicy = corev1.RestartPolicyNever
	runner.Containers[podspec.ContainerIndex(runner, stable.Primary)].Name = JobRunnerContainer

	workers := job.GetWorkers().GetNumberOfWorkers()
	if err := plugins.TemplateCountError(int64(workers), customField+".workers.numberOfWorkers"); err != nil {
		return nil, err
	}
	dj.APIVersion, dj.Kind = GVK.GroupVersion().String(), GVK.Kind
	dj.Labels, dj.Annotations = labels, annotations
	cluster.Worker.Replicas = int(workers)
	cluster.Scheduler.Service = corev1.ServiceSpec{
		Type:     corev1.ServiceTypeNodePort,
		Selector: map[string]string{"dask.org/cluster-name": t.Name, "dask.org/component": "scheduler"},
		Ports: []corev1.ServicePort{
			{Name: "tcp-comm", Protocol: corev1.ProtocolTCP, Port: 8786, TargetPort: intstr.FromString("tcp-comm")},
			{Name: "dashboard", Protocol: corev1.ProtocolTCP, Port: 8787, TargetPort: intstr.FromString("dashboard")},
		},
	}
	dj.Spec.Cluster.Labels, dj.Spec.Cluster.Annotations = labels, annotations
	return j, nil
}

// job is a DaskJob expansion: a client.Object like the DaskJob it embeds,
// recycled once the expansion has been encoded.
type job struct{ daskv1.DaskJob }

// jobs keeps at most 32 jobs (90 KB) for the next expansions.
var jobs = plugins.NewRecycled[job](32)

// Recycle implements expand.Recycler: obj, a DaskJob this plugin's Expand
// returned, has been encoded and is not used any more.
func (Plugin) Recycle(obj client.Object) { jobs.PutBack(obj) }

// rolePod turns spec, a task pod of the role's own, into the role's pod: it
// renames the primary container and applies the role's image and resources
// (resources given in the job replace the task's, defaulted like a primary
// container).
func rolePod(spec *corev1.PodSpec, primary, name, image string, r *core.Resources, platform podspec.Platform, field string) error {
	idx := podspec.ContainerIndex(spec, primary)
	if idx < 0 {
		return task.BadSpec(task.TemplateField, "primary container [%s] not found in pod spec", primary)
	}
	c := &spec.Containers[idx]
	c.Name = name
	if image != "" {
		c.Image = image
	}
	if len(r.GetRequests()) > 0 || len(r.GetLimits()) > 0 {
		rr, err := podspec.ResourceRequirements(r, field)
		if err != nil {
			return err
		}
		c.Resources = podspec.ApplyResourceOverrides(rr, platform, true)
	}
	return nil
}

// Phase implements watch.Phaser (Flyte's GetTaskPhase for Dask).
func (Plugin) Phase(obj client.Object, cfg *config.Config, _ time.Time) plugins.PhaseInfo {
	return phase(obj, cfg)
}

func phase(obj client.Object, cfg *config.Config) plugins.PhaseInfo {
	dj, ok := obj.(*daskv1.DaskJob)
	if !ok {
		return plugins.PhaseInfo{Phase: plugins.PhaseUndefined, Reason: fmt.Sprintf("not a DaskJob: %T", obj)}
	}
	info := plugins.PhaseInfo{}
	switch dj.Status.JobStatus {
	case "":
		info.Phase, info.Reason = plugins.PhaseInitializing, "unknown"
	case daskv1.DaskJobCreated:
		info.Phase, info.Reason = plugins.PhaseInitializing, "job created"
	case daskv1.DaskJobClusterCreated:
		info.Phase, info.Reason = plugins.PhaseInitializing, "cluster created"
	case daskv1.DaskJobFailed:
		info.Phase, info.Code, info.Message = plugins.PhaseRetryableFailure, "DownstreamSystemError", "Dask Job failed"
	case daskv1.DaskJobSuccessful:
		info.Phase = plugins.PhaseSuccess
	default:
		info.Phase = plugins.PhaseRunning
	}
	pc := plugins.NewPhaseContext(dj)
	logs, err := tasklog.Render(cfg.Plugins.Dask.Logs, tasklog.Input{
		Namespace:     dj.Namespace,
		PodName:       dj.Status.JobRunnerPodName,
		LogName:       "(Dask Runner Logs)",
		TaskExecution: pc.TaskExecution(),
		TaskConfig:    pc.TaskConfig(),
	})
	if err != nil {
		info.Message = strings.TrimSpace(info.Message + " (failed to generate task logs: " + err.Error() + ")")
	}
	info.Logs = logs
	return info
}
