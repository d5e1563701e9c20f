// Package ray is Flyte's Ray plugin at admission: it expands a ray task into a
// RayJob (head and worker groups, submitter pod with the head image, optional
// logs sidecar in the head pod), checks those invariants on every RayJob and
// maps job deployment states to Flyte phases with the Ray log links.
package ray

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	flyteplugins "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	yamlv2 "go.yaml.in/yaml/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GVK is the RayJob kind.
var GVK = rayv1.GroupVersion.WithKind("RayJob")

// Container names KubeRay and Flyte use.
const (
	HeadContainer   = "ray-head"
	WorkerContainer = "ray-worker"
	rayStateVolume  = "system-ray-state"
	rayStatePath    = "/tmp/ray"
)

// Plugin is the Ray plugin.
type Plugin struct{}

// New returns the Ray plugin.
func New() Plugin { return Plugin{} }

// Kind implements plugins.Plugin.
func (Plugin) Kind() schema.GroupVersionKind { return GVK }

// TaskTypes implements plugins.TaskTyper.
func (Plugin) TaskTypes() []string { return []string{"ray"} }

// NewObject implements plugins.Plugin.
func (Plugin) NewObject() client.Object { return &rayv1.RayJob{} }

const customField = task.TemplateField + ".custom"

// Expand implements expand.Plugin (Flyte's BuildResource for Ray).
func (Plugin) Expand(ctx context.Context, t *task.Task, env plugins.Env) (client.Object, error) {
	msg, err := t.Custom(&flyteplugins.RayJob{})
	if err != nil {
		return nil, task.BadSpec(customField, "invalid TaskSpecification [%s], Err: [%v]", t.Template.GetCustom(), err)
	}
	job := msg.(*flyteplugins.RayJob)
	if job.GetRayCluster() == nil {
		return nil, task.BadSpec(customField+".rayCluster", "rayCluster is required")
	}
	cfg := &env.Config.Plugins.Ray
	k8s := &env.Config.Plugins.K8s
	res, err := podspec.Build(t, env.Config, env.Templates, t.Interruptible())
	if err != nil {
		return nil, err
	}
	primary := res.PrimaryIndex()
	if primary < 0 {
		return nil, task.BadSpec(task.TemplateField, "Unable to get primary container %s from the pod spec", res.Primary)
	}
	if err := validateRayJobName(t.Name); err != nil {
		return nil, task.BadSpec("metadata.name", "%v", err)
	}
	primary = rayContainerFirst(&res.Spec, primary)
	sa := t.Exec.ServiceAccount
	if sa == "" || cfg.ServiceAccount != "" {
		sa = cfg.ServiceAccount
	}
	res.Spec.ServiceAccountName = sa
	labels, annotations := plugins.Labels(t), plugins.Annotations(t)
	// Pods with no metadata of their own (the submitter, and usually the
	// head and workers) share one pair of maps: read only.
	podLabels := podspec.UnionMaps(k8s.DefaultLabels, res.Labels, labels)
	podAnnotations := podspec.UnionMaps(k8s.DefaultAnnotations, res.Annotations, annotations)
	meta := func(extra *core.K8SObjectMetadata) (map[string]string, map[string]string) {
		if len(extra.GetLabels()) == 0 && len(extra.GetAnnotations()) == 0 {
			return podLabels, podAnnotations
		}
		return podspec.UnionMaps(podLabels, extra.GetLabels()), podspec.UnionMaps(podAnnotations, extra.GetAnnotations())
	}
	cluster := job.GetRayCluster()

	// Head group.
	headPod := cluster.GetHeadGroupSpec().GetK8SPod()
	// The head is a copy of the pod too: charged before it is made.
	if err := t.Grow(customField+".rayCluster.headGroupSpec", res.Bytes); err != nil {
		return nil, err
	}
	head := podspec.Copy(&res.Spec)
	hc := &head.Containers[primary]
	hc.Name, hc.Args = HeadContainer, nil
	hc.Env = append(hc.Env, podIPEnv())
	hc.Ports = append(hc.Ports, rayPorts()...)
	if cfg.LogsSidecar != nil {
		injectLogsSidecar(head, primary, cfg.LogsSidecar)
	}
	if head, err = overlay(t, head, headPod, "rayCluster.headGroupSpec.k8sPod"); err != nil {
		return nil, err
	}
	podspec.AddTolerationsForExtendedResources(head, k8s.AddTolerationsForExtendedResources)
	headLabels, headAnn := meta(headPod.GetMetadata())
	headSpec := rayv1.HeadGroupSpec{
		Template:       corev1.PodTemplateSpec{Spec: *head},
		ServiceType:    corev1.ServiceType(cfg.ServiceType),
		EnableIngress:  ptr.To(cfg.EnableIngress),
		RayStartParams: headStartParams(cluster.GetHeadGroupSpec(), cfg),
	}
	headSpec.Template.Labels, headSpec.Template.Annotations = headLabels, headAnn

	// Worker groups.
	workers := make([]rayv1.WorkerGroupSpec, 0, len(cluster.GetWorkerGroupSpec()))
	for i, g := range cluster.GetWorkerGroupSpec() {
		// Each group is a copy of the pod: charged before it is made.
		gp := fmt.Sprintf("%s.rayCluster.workerGroupSpec[%d]", customField, i)
		if err := t.Grow(gp, res.Bytes); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w := podspec.Copy(&res.Spec)
		wc := &w.Containers[primary]
		wc.Name, wc.Args = WorkerContainer, nil
		wc.Env = append(wc.Env, workerEnv()...)
		wc.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "ray stop"}}}}
		wc.Ports = append(wc.Ports, rayPorts()...)
		if w, err = overlay(t, w, g.GetK8SPod(), fmt.Sprintf("rayCluster.workerGroupSpec[%d].k8sPod", i)); err != nil {
			return nil, err
		}
		podspec.AddTolerationsForExtendedResources(w, k8s.AddTolerationsForExtendedResources)
		wl, wa := meta(g.GetK8SPod().GetMetadata())
		replicas := g.GetReplicas()
		if err := plugins.TemplateCountError(gp+".replicas", int64(replicas)); err != nil {
			return nil, err
		}
		if err := plugins.TemplateCountError(gp+".minReplicas", int64(g.GetMinReplicas())); err != nil {
			return nil, err
		}
		if err := plugins.TemplateCountError(gp+".maxReplicas", int64(g.GetMaxReplicas())); err != nil {
			return nil, err
		}
		spec := rayv1.WorkerGroupSpec{
			GroupName:      g.GetGroupName(),
			Replicas:       ptr.To(replicas),
			MinReplicas:    ptr.To(min(g.GetMinReplicas(), replicas)),
			MaxReplicas:    ptr.To(max(g.GetMaxReplicas(), replicas)),
			RayStartParams: workerStartParams(g, cfg),
			Template:       corev1.PodTemplateSpec{Spec: *w},
		}
		spec.Template.Labels, spec.Template.Annotations = wl, wa
		workers = append(workers, spec)
	}

	clusterSpec := &rayv1.RayClusterSpec{
		HeadGroupSpec:           headSpec,
		WorkerGroupSpecs:        workers,
		EnableInTreeAutoscaling: ptr.To(cluster.GetEnableAutoscaling()),
		AutoscalerOptions:       autoscalerOptions(cluster.GetAutoscalerOptions()),
	}
	if clusterSpec.AutoscalerOptions != nil {
		r, err := podspec.ResourceRequirements(cluster.GetAutoscalerOptions().GetResources(), customField+".rayCluster.autoscalerOptions.resources")
		if err != nil {
			return nil, err
		}
		clusterSpec.AutoscalerOptions.Resources = &r
	}

	shutdown, ttl := jobLifetime(job, cfg)

	// Submitter: the task pod as built (res is ours alone and not used after
	// this, so no copy), with the head's image and KubeRay's command.
	entry := entrypoint(res.Spec.Containers[primary].Command, res.Spec.Containers[primary].Args)
	submitter := &res.Spec
	submitterPod(submitter, head.Containers[podspec.ContainerIndex(head, HeadContainer)].Image)
	sl, sa2 := meta(nil)
	submitterTemplate := &corev1.PodTemplateSpec{Spec: *submitter}
	submitterTemplate.Labels, submitterTemplate.Annotations = sl, sa2

	runtimeEnv, err := runtimeEnvYAML(job)
	if err != nil {
		return nil, err
	}
	rj := &rayv1.RayJob{}
	rj.APIVersion, rj.Kind = GVK.GroupVersion().String(), GVK.Kind
	rj.Spec = rayv1.RayJobSpec{
		RayClusterSpec:           clusterSpec,
		Entrypoint:               entry,
		ShutdownAfterJobFinishes: shutdown,
		TTLSecondsAfterFinished:  ttl,
		RuntimeEnvYAML:           runtimeEnv,
		SubmitterPodTemplate:     submitterTemplate,
	}
	return rj, nil
}

func podIPEnv() corev1.EnvVar {
	return corev1.EnvVar{Name: "MY_POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
}

func rayPorts() []corev1.ContainerPort {
	return []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}, {Name: "head", ContainerPort: 10001}, {Name: "dashboard", ContainerPort: 8265}}
}

func workerEnv() []corev1.EnvVar {
	res := func(name, r string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: WorkerContainer, Resource: r}}}
	}
	return []corev1.EnvVar{
		{Name: "RAY_DISABLE_DOCKER_CPU_WARNING", Value: "1"},
		{Name: "TYPE", Value: "worker"},
		res("CPU_REQUEST", "requests.cpu"),
		res("CPU_LIMITS", "limits.cpu"),
		// Flyte 1.16.8 points the memory variables at the CPU resources too.
		res("MEMORY_REQUESTS", "requests.cpu"),
		res("MEMORY_LIMITS", "limits.cpu"),
		{Name: "MY_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		podIPEnv(),
	}
}

func overlay(t *task.Task, spec *corev1.PodSpec, pod *core.K8SPod, field string) (*corev1.PodSpec, error) {
	if pod.GetPodSpec() == nil {
		return spec, nil
	}
	custom, err := t.PodSpec(pod.GetPodSpec())
	if err != nil {
		return nil, task.BadSpec(customField+"."+field+".podSpec", "Unable to unmarshal pod spec: %v", err)
	}
	return podspec.MergeOverlay(spec, custom), nil
}

func headStartParams(h *flyteplugins.HeadGroupSpec, cfg *config.Ray) map[string]string {
	params := startParams(h.GetRayStartParams(), cfg.Defaults.HeadNode.StartParameters)
	setDefault(params, "include-dashboard", fmt.Sprint(cfg.IncludeDashboard))
	setDefault(params, "node-ip-address", cfg.Defaults.HeadNode.IPAddress)
	setDefault(params, "dashboard-host", cfg.DashboardHost)
	if !cfg.EnableUsageStats {
		setDefault(params, "disable-usage-stats", "true")
	}
	return params
}

func workerStartParams(g *flyteplugins.WorkerGroupSpec, cfg *config.Ray) map[string]string {
	params := startParams(g.GetRayStartParams(), cfg.Defaults.WorkerNode.StartParameters)
	setDefault(params, "node-ip-address", cfg.Defaults.WorkerNode.IPAddress)
	if !cfg.EnableUsageStats {
		setDefault(params, "disable-usage-stats", "true")
	}
	return params
}

// startParams copies the task's params if given (even empty), else the
// configured defaults; never the config map itself.
func startParams(task, defaults map[string]string) map[string]string {
	src := defaults
	if task != nil {
		src = task
	}
	out := make(map[string]string, len(src)+4)
	for k, v := range src {
		out[k] = v
	}
	return out
}

func setDefault(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

func autoscalerOptions(o *flyteplugins.AutoscalerOptions) *rayv1.AutoscalerOptions {
	if o == nil {
		return nil
	}
	out := &rayv1.AutoscalerOptions{}
	if s := o.GetIdleTimeoutSeconds(); s > 0 {
		out.IdleTimeoutSeconds = &s
	}
	var mode rayv1.UpscalingMode
	switch o.GetUpscalingMode() {
	case flyteplugins.AutoscalerOptions_UPSCALING_MODE_DEFAULT:
		mode = "Default"
	case flyteplugins.AutoscalerOptions_UPSCALING_MODE_CONSERVATIVE:
		mode = "Conservative"
	case flyteplugins.AutoscalerOptions_UPSCALING_MODE_AGGRESSIVE:
		mode = "Aggressive"
	}
	if mode != "" {
		out.UpscalingMode = &mode
	}
	if img := o.GetImage(); img != "" {
		out.Image = &img
	}
	for _, kv := range o.GetEnv() {
		out.Env = append(out.Env, corev1.EnvVar{Name: kv.GetKey(), Value: kv.GetValue()})
	}
	return out
}

// runtimeEnvYAML is runtime_env_yaml, or the base64 JSON runtime_env as YAML.
func runtimeEnvYAML(job *flyteplugins.RayJob) (string, error) {
	if y := job.GetRuntimeEnvYaml(); y != "" || job.GetRuntimeEnv() == "" {
		return y, nil
	}
	field := customField + ".runtimeEnv"
	raw, err := base64.StdEncoding.DecodeString(job.GetRuntimeEnv())
	if err != nil {
		return "", task.BadSpec(field, "runtime env is not valid base64: %v", err)
	}
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		return "", task.BadSpec(field, "runtime env is not a JSON object: %v", err)
	}
	out, err := yamlv2.Marshal(env)
	if err != nil {
		return "", task.BadSpec(field, "runtime env: %v", err)
	}
	return string(out), nil
}
