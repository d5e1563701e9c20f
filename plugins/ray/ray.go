// Package ray is Flyte's Ray plugin at admission: it expands a ray task into a
// RayJob (head and worker groups, submitter pod with the head image, optional
// logs sidecar in the head pod), checks those invariants on every RayJob and
// maps job deployment states to Flyte phases with the Ray log links.
package ray

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"

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
	groups := cluster.GetWorkerGroupSpec()
	// The RayJob and its parts are made together (recycled once encoded);
	// the head and worker pods are built in place in them.
	j := jobs.Get()
	clusterSpec := &j.cluster
	var workers []rayv1.WorkerGroupSpec
	if len(groups) <= len(j.workers) {
		workers = j.workers[:len(groups):len(groups)]
	} else {
		workers = make([]rayv1.WorkerGroupSpec, len(groups))
	}
	*clusterSpec = rayv1.RayClusterSpec{
		WorkerGroupSpecs:        workers,
		EnableInTreeAutoscaling: ptr.To(cluster.GetEnableAutoscaling()),
		AutoscalerOptions:       autoscalerOptions(cluster.GetAutoscalerOptions()),
	}

	// Head group.
	headPod := cluster.GetHeadGroupSpec().GetK8SPod()
	// The head is a copy of the pod too: charged before it is made.
	const headField = customField + ".rayCluster.headGroupSpec"
	if err := t.Grow(headField, res.Bytes); err != nil {
		return nil, err
	}
	headSpec := &clusterSpec.HeadGroupSpec
	sidecars := 0
	if cfg.LogsSidecar != nil {
		sidecars = 1
	}
	head := &headSpec.Template.Spec
	*head = podspec.Copy(&res.Spec, sidecars)
	hc := &head.Containers[primary]
	hc.Name, hc.Args = HeadContainer, nil
	hc.Env = slices.Concat(hc.Env, []corev1.EnvVar{podIPEnv()})
	hc.Ports = slices.Concat(hc.Ports, rayPorts[:])
	if cfg.LogsSidecar != nil {
		injectLogsSidecar(head, primary, cfg.LogsSidecar)
	}
	if err := overlay(t, head, headPod, headField); err != nil {
		return nil, err
	}
	podspec.AddTolerationsForExtendedResources(head, k8s.AddTolerationsForExtendedResources)
	headSpec.Template.Labels, headSpec.Template.Annotations = meta(headPod.GetMetadata())
	headSpec.ServiceType = corev1.ServiceType(cfg.ServiceType)
	headSpec.EnableIngress = ptr.To(cfg.EnableIngress)
	headSpec.RayStartParams = headStartParams(cluster.GetHeadGroupSpec(), cfg)

	// Worker groups.
	for i, g := range groups {
		// Each group is a copy of the pod: charged before it is made.
		gp := customField + ".rayCluster.workerGroupSpec[" + strconv.Itoa(i) + "]"
		if err := t.Grow(gp, res.Bytes); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		spec := &clusterSpec.WorkerGroupSpecs[i]
		w := &spec.Template.Spec
		*w = podspec.Copy(&res.Spec, 0)
		wc := &w.Containers[primary]
		wc.Name, wc.Args = WorkerContainer, nil
		wc.Env = workerEnv(wc.Env)
		wc.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "ray stop"}}}}
		wc.Ports = slices.Concat(wc.Ports, rayPorts[:])
		if err := overlay(t, w, g.GetK8SPod(), gp); err != nil {
			return nil, err
		}
		podspec.AddTolerationsForExtendedResources(w, k8s.AddTolerationsForExtendedResources)
		spec.Template.Labels, spec.Template.Annotations = meta(g.GetK8SPod().GetMetadata())
		replicas := g.GetReplicas()
		if err := plugins.TemplateCountError(int64(replicas), gp, ".replicas"); err != nil {
			return nil, err
		}
		if err := plugins.TemplateCountError(int64(g.GetMinReplicas()), gp, ".minReplicas"); err != nil {
			return nil, err
		}
		if err := plugins.TemplateCountError(int64(g.GetMaxReplicas()), gp, ".maxReplicas"); err != nil {
			return nil, err
		}
		spec.GroupName = g.GetGroupName()
		spec.Replicas = ptr.To(replicas)
		spec.MinReplicas = ptr.To(min(g.GetMinReplicas(), replicas))
		spec.MaxReplicas = ptr.To(max(g.GetMaxReplicas(), replicas))
		spec.RayStartParams = workerStartParams(g, cfg)
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
	submitterTemplate := &j.submitter
	submitterTemplate.Spec = *submitter
	submitterTemplate.Labels, submitterTemplate.Annotations = meta(nil)

	runtimeEnv, err := runtimeEnvYAML(job)
	if err != nil {
		return nil, err
	}
	rj := &j.RayJob
	rj.APIVersion, rj.Kind = GVK.GroupVersion().String(), GVK.Kind
	rj.Spec = rayv1.RayJobSpec{
		RayClusterSpec:           clusterSpec,
		Entrypoint:               entry,
		ShutdownAfterJobFinishes: shutdown,
		TTLSecondsAfterFinished:  ttl,
		RuntimeEnvYAML:           runtimeEnv,
		SubmitterPodTemplate:     submitterTemplate,
	}
	return j, nil
}

// job is a RayJob expansion together with the parts its spec points to: a
// client.Object like the RayJob it embeds, allocated in one piece and
// recycled once the expansion has been encoded.
type job struct {
	rayv1.RayJob
	cluster   rayv1.RayClusterSpec
	workers   [2]rayv1.WorkerGroupSpec // the usual one or two groups; more get a slice of their own
	submitter corev1.PodTemplateSpec
}

// jobs keeps at most 32 jobs (150 KB) for the next expansions.
var jobs = plugins.NewRecycled[job](32)

// Recycle implements expand.Recycler: obj, a RayJob this plugin's Expand
// returned, has been encoded and is not used any more.
func (Plugin) Recycle(obj client.Object) { jobs.PutBack(obj) }

func podIPEnv() corev1.EnvVar { return corev1.EnvVar{Name: "MY_POD_IP", ValueFrom: podIPSource} }

// The sources of the variables Ray adds, shared by every expansion: read
// only. Nothing changes an expanded pod's values in place (an overlay is
// merged onto a deep copy), and expansions are only encoded.
var (
	podIPSource   = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}
	podNameSource = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}
	cpuRequests   = workerResource("requests.cpu")
	cpuLimits     = workerResource("limits.cpu")
)

func workerResource(r string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: WorkerContainer, Resource: r}}
}

// rayPorts are the ports of the head and worker containers. Read only; they
// hold no pointers, so copying them makes ports of the pod's own.
var rayPorts = [...]corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}, {Name: "head", ContainerPort: 10001}, {Name: "dashboard", ContainerPort: 8265}}

// workerEnv returns env followed by the variables of a Ray worker, in a new
// slice of that length.
func workerEnv(env []corev1.EnvVar) []corev1.EnvVar {
	const n = 8 // the variables appended below
	out := make([]corev1.EnvVar, len(env), len(env)+n)
	copy(out, env)
	return append(out,
		corev1.EnvVar{Name: "RAY_DISABLE_DOCKER_CPU_WARNING", Value: "1"},
		corev1.EnvVar{Name: "TYPE", Value: "worker"},
		corev1.EnvVar{Name: "CPU_REQUEST", ValueFrom: cpuRequests},
		corev1.EnvVar{Name: "CPU_LIMITS", ValueFrom: cpuLimits},
		// Flyte 1.16.8 points the memory variables at the CPU resources too.
		corev1.EnvVar{Name: "MEMORY_REQUESTS", ValueFrom: cpuRequests},
		corev1.EnvVar{Name: "MEMORY_LIMITS", ValueFrom: cpuLimits},
		corev1.EnvVar{Name: "MY_POD_NAME", ValueFrom: podNameSource},
		podIPEnv(),
	)
}

// overlay merges the group's k8sPod pod spec, if any, onto spec; group is
// the group's field path in the template, for errors.
func overlay(t *task.Task, spec *corev1.PodSpec, pod *core.K8SPod, group string) error {
	if pod.GetPodSpec() == nil {
		return nil
	}
	custom, err := t.PodSpec(pod.GetPodSpec())
	if err != nil {
		return task.BadSpec(group+".k8sPod.podSpec", "Unable to unmarshal pod spec: %v", err)
	}
	*spec = *podspec.MergeOverlay(spec, custom)
	return nil
}

func headStartParams(h *flyteplugins.HeadGroupSpec, cfg *config.Ray) map[string]string {
	params := startParams(h.GetRayStartParams(), cfg.Defaults.HeadNode.StartParameters)
	setDefault(params, "include-dashboard", strconv.FormatBool(cfg.IncludeDashboard))
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
