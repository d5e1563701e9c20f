// Package podspec is Flyte's ToK8sPodSpec: it turns a task template's container
// or k8s_pod target, the execution context and the plugins.k8s configuration
// into the pod spec every plugin starts from.
package podspec

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Templates looks up PodTemplates by namespace and name; namespace "" means
// the namespace of flyte-admission itself (Flyte's propeller namespace).
type Templates interface {
	PodTemplate(namespace, name string) (*corev1.PodTemplate, bool)
}

// Result is what ToK8sPodSpec returns.
type Result struct {
	Spec corev1.PodSpec
	// Labels and Annotations come from the k8s_pod target and the base
	// PodTemplate only; plugins add the execution's own.
	Labels, Annotations map[string]string
	// Primary is the name of the primary container.
	Primary string
	// Bytes estimates the size of Spec as JSON: what each further copy of it
	// adds to an expansion (see task.Task.Grow).
	Bytes int
	// field is the template field the pod comes from, charged with Bytes.
	field string
}

// Reuse returns what Build, run again with the same arguments, would: a pod
// built once serves two roles of the same interruptibility (Spark's driver
// and executors, Dask's workers and scheduler, of a task that is not
// interruptible). The pod is a Copy of r's (containers of its own, what they
// point to shared and not to be changed in place), and it is charged to t as
// Build charges one.
func (r *Result) Reuse(t *task.Task) (Result, error) {
	if err := t.Grow(r.field, r.Bytes); err != nil {
		return Result{}, err
	}
	out := *r
	out.Spec = Copy(&r.Spec, 0)
	return out, nil
}

// PrimaryIndex returns the index of the primary container, or -1.
func (r *Result) PrimaryIndex() int {
	return ContainerIndex(&r.Spec, r.Primary)
}

// ContainerIndex returns the index of the named container, or -1.
func ContainerIndex(spec *corev1.PodSpec, name string) int {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return i
		}
	}
	return -1
}

// Build runs ToK8sPodSpec for t with the given interruptibility (plugins force
// it off for Spark drivers and Dask schedulers and job runners). The result
// is a value, the caller's own: a plugin that keeps no pointer into it keeps
// it off the heap.
func Build(t *task.Task, cfg *config.Config, templates Templates, interruptible bool) (Result, error) {
	b := builder{t: t, cfg: cfg, k8s: &cfg.Plugins.K8s, interruptible: interruptible}
	var res Result
	if err := b.build(&res, templates); err != nil {
		return Result{}, err
	}
	return res, nil
}

type builder struct {
	t             *task.Task
	cfg           *config.Config
	k8s           *config.K8s
	interruptible bool
}

const tf = task.TemplateField

func (b *builder) build(res *Result, templates Templates) error {
	env, envFrom := b.decorations()
	if err := b.rawPod(res, len(env)); err != nil {
		return err
	}
	base, err := b.basePodTemplate(templates)
	if err != nil {
		return err
	}
	if err := b.customizeContainers(res, base, env, envFrom); err != nil {
		return err
	}
	if res.PrimaryIndex() < 0 {
		return task.BadSpec(tf, "invalid TaskSpecification, primary container [%s] not defined", res.Primary)
	}
	if b.t.Template.GetContainer().GetDataConfig() != nil || b.t.Template.GetK8SPod().GetDataConfig() != nil {
		return task.BadSpec(tf+".dataConfig", "raw-container data loading (CoPilot) is not supported at admission")
	}
	b.updatePod(&res.Spec)
	if sc := b.k8s.DefaultSecurityContext; sc != nil {
		if c := &res.Spec.Containers[res.PrimaryIndex()]; c.SecurityContext == nil {
			c.SecurityContext = sc.DeepCopy()
		}
	}
	if base != nil {
		res.Spec = *mergeBaseTemplate(&base.Template.Spec, &res.Spec, res.Primary)
		res.Labels = unionMaps(base.Template.Labels, res.Labels)
		res.Annotations = unionMaps(base.Template.Annotations, res.Annotations)
	}
	if er := b.t.Template.GetExtendedResources(); er != nil {
		if acc := er.GetGpuAccelerator(); acc != nil {
			b.applyGPUNodeSelectors(&res.Spec, acc)
		}
		if sm := er.GetSharedMemory(); sm != nil {
			if err := applySharedMemory(&res.Spec, res.Primary, sm); err != nil {
				return err
			}
		}
	}
	AddTolerationsForExtendedResources(&res.Spec, b.k8s.AddTolerationsForExtendedResources)
	return nil
}

// rawPod is BuildRawPod: the container or k8s_pod target as a pod spec. A
// container's own env has room for envRoom more variables (the decorations).
// It fills res, whose Labels and Annotations stay nil unless a k8s_pod gives
// some.
func (b *builder) rawPod(res *Result, envRoom int) error {
	tt := b.t.Template
	switch {
	case tt.GetContainer() != nil:
		c := tt.GetContainer()
		name := b.t.Name
		if !isDNS1123Label(name) {
			name = "primary"
		}
		resources, err := ResourceRequirements(c.GetResources(), tf+".container.resources")
		if err != nil {
			return err
		}
		var env []corev1.EnvVar
		if len(c.GetEnv()) > 0 {
			env = make([]corev1.EnvVar, 0, len(c.GetEnv())+envRoom)
		}
		for _, kv := range c.GetEnv() {
			env = append(env, corev1.EnvVar{Name: kv.GetKey(), Value: kv.GetValue()})
		}
		res.Spec.Containers = []corev1.Container{{
			Name:                     name,
			Image:                    c.GetImage(),
			Command:                  c.GetCommand(),
			Args:                     c.GetArgs(),
			Env:                      env,
			Resources:                resources,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			ImagePullPolicy:          b.k8s.ImagePullPolicy,
		}}
		res.Primary = name
	case tt.GetK8SPod() != nil:
		p := tt.GetK8SPod()
		if p.GetPodSpec() == nil {
			return task.BadSpec(tf+".k8sPod.podSpec", "Pod tasks with task type version > 1 should specify their target as a K8sPod with a defined pod spec")
		}
		spec, err := b.t.PodSpec(p.GetPodSpec())
		if err != nil {
			return task.BadSpec(tf+".k8sPod.podSpec", "Unable to unmarshal task k8s pod: %v", err)
		}
		spec.DeepCopyInto(&res.Spec)
		primary, ok := tt.GetConfig()["primary_container_name"]
		if !ok {
			return task.BadSpec(tf+".config", "invalid TaskSpecification, config missing [primary_container_name] key in [%v]", tt.GetConfig())
		}
		res.Primary = primary
		res.Labels = unionMaps(res.Labels, p.GetMetadata().GetLabels())
		res.Annotations = unionMaps(res.Annotations, p.GetMetadata().GetAnnotations())
	default:
		return task.BadSpec(tf, "invalid TaskSpecification, unable to determine Pod configuration (the template needs a container or k8sPod target)")
	}
	return nil
}

// isDNS1123Label is validation.IsDNS1123Label without its messages (and the
// allocations of its regexp): 1 to 63 of [-a-z0-9], starting and ending
// with a letter or digit.
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > validation.DNS1123LabelMaxLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			continue
		}
		if c != '-' || i == 0 || i == len(s)-1 {
			return false
		}
	}
	return true
}

// basePodTemplate finds the template's pod_template_name or the configured
// default PodTemplate.
func (b *builder) basePodTemplate(templates Templates) (*corev1.PodTemplate, error) {
	lookup := func(name string) (*corev1.PodTemplate, bool) {
		if templates == nil {
			return nil, false
		}
		if pt, ok := templates.PodTemplate(b.t.Namespace, name); ok {
			return pt, true
		}
		return templates.PodTemplate("", name)
	}
	if name := b.t.Template.GetMetadata().GetPodTemplateName(); name != "" {
		pt, ok := lookup(name)
		if !ok {
			return nil, task.BadSpec(tf+".metadata.podTemplateName", "PodTemplate '%s' does not exist", name)
		}
		return pt, nil
	}
	if name := b.k8s.DefaultPodTemplateName; name != "" {
		if pt, ok := lookup(name); ok {
			return pt, nil
		}
	}
	return nil, nil
}

func (b *builder) platform() Platform {
	// The configuration's own lists, read only: no copy per expansion.
	p := Platform{GPU: b.k8s.GpuResourceName, DefaultCPU: b.k8s.DefaultCPURequest, DefaultMemory: b.k8s.DefaultMemoryRequest}
	if pr := b.cfg.PlatformResources; pr != nil {
		p.Requests, p.Limits = pr.Requests, pr.Limits
	}
	return p
}

// Platform returns the resource defaulting context of cfg.
func PlatformOf(cfg *config.Config) Platform {
	b := builder{cfg: cfg, k8s: &cfg.Plugins.K8s}
	return b.platform()
}

// customizeContainers is AddFlyteCustomizationsToContainer for every init and
// regular container.
func (b *builder) customizeContainers(res *Result, base *corev1.PodTemplate, env []corev1.EnvVar, envFrom []corev1.EnvFromSource) error {
	vars := newArgVars(b.t)
	// Charge the pod before building it: every container gets the
	// decorations, so a template of many small containers makes a large pod.
	n := len(res.Spec.InitContainers) + len(res.Spec.Containers)
	res.Bytes = estimateBytes(&res.Spec) + n*(envBytes(env)+estimatedEnvFromBytes*len(envFrom))
	res.field = b.podField()
	if err := b.t.Grow(res.field, res.Bytes); err != nil {
		return err
	}
	platform := b.platform()
	var tmpl *corev1.PodSpec
	if base != nil {
		tmpl = &base.Template.Spec
	}
	for i := range res.Spec.InitContainers {
		c := &res.Spec.InitContainers[i]
		tr := templateResources(tmpl, true, c.Name)
		b.customize(c, &vars, env, envFrom, platform, tr, true)
	}
	for i := range res.Spec.Containers {
		c := &res.Spec.Containers[i]
		tr := templateResources(tmpl, false, c.Name)
		b.customize(c, &vars, env, envFrom, platform, tr, c.Name == res.Primary)
	}
	return nil
}

func templateResources(tmpl *corev1.PodSpec, init bool, name string) corev1.ResourceRequirements {
	if tmpl == nil {
		return corev1.ResourceRequirements{}
	}
	list, primary, def := tmpl.Containers, "primary", "default"
	if init {
		list, primary, def = tmpl.InitContainers, "primary-init", "default-init"
	}
	for _, n := range []string{name, primary, def} {
		for i := range list {
			if list[i].Name == n {
				return *list[i].Resources.DeepCopy()
			}
		}
	}
	return corev1.ResourceRequirements{}
}

func (b *builder) customize(c *corev1.Container, vars *argVars, env []corev1.EnvVar, envFrom []corev1.EnvFromSource,
	platform Platform, tmplRes corev1.ResourceRequirements, merge bool) {
	c.Command = vars.renderAll(c.Command)
	c.Args = vars.renderAll(c.Args)
	c.Env = appendShared(c.Env, env)
	c.EnvFrom = appendShared(c.EnvFrom, envFrom)
	if gpu := b.k8s.GpuResourceName; gpu != "gpu" {
		renameGPU(c.Resources.Requests, gpu)
		renameGPU(c.Resources.Limits, gpu)
	}
	mergeResourcesIfMissing(tmplRes, &c.Resources)
	c.Resources = ApplyResourceOverrides(c.Resources, platform, merge)
}

// appendShared appends the decorations to a container's own list; a
// container with none of its own takes the decorations themselves, shared
// with the other containers and clipped so that an append copies them.
// Nothing changes an element of a pod's env in place (merges work on deep
// copies), so sharing is safe.
func appendShared[T any](own, decorations []T) []T {
	if len(own) == 0 && len(decorations) > 0 {
		return slices.Clip(decorations)
	}
	return append(own, decorations...)
}

func renameGPU(l corev1.ResourceList, to corev1.ResourceName) {
	if q, ok := l["gpu"]; ok {
		delete(l, "gpu")
		l[to] = q
	}
}

// decorations are the environment variables and sources Flyte adds to every
// container (DecorateEnvVars).
func (b *builder) decorations() ([]corev1.EnvVar, []corev1.EnvFromSource) {
	e := &b.t.Exec
	env := make([]corev1.EnvVar, 0, 9+len(e.Environment)+len(b.k8s.DefaultEnvVars)+len(b.k8s.DefaultEnvVarsFromEnv))
	env = append(env,
		corev1.EnvVar{Name: "FLYTE_INTERNAL_EXECUTION_ID", Value: e.Name},
		corev1.EnvVar{Name: "FLYTE_INTERNAL_EXECUTION_PROJECT", Value: e.Project},
		corev1.EnvVar{Name: "FLYTE_INTERNAL_EXECUTION_DOMAIN", Value: e.Domain},
		corev1.EnvVar{Name: "FLYTE_ATTEMPT_NUMBER", Value: strconv.FormatUint(uint64(e.RetryAttempt), 10)},
	)
	if _, ok := b.t.Template.GetConfig()["link_type"]; ok && b.cfg.ConsoleURL != "" {
		env = append(env, corev1.EnvVar{Name: "FLYTE_EXECUTION_URL", Value: fmt.Sprintf("%s/projects/%s/domains/%s/executions/%s/nodeId/%s/nodes",
			strings.TrimSuffix(b.cfg.ConsoleURL, "/"), e.Project, e.Domain, e.Name, e.Node)})
	}
	if id := b.t.Template.GetId(); id != nil {
		env = append(env,
			corev1.EnvVar{Name: "FLYTE_INTERNAL_TASK_PROJECT", Value: id.GetProject()},
			corev1.EnvVar{Name: "FLYTE_INTERNAL_TASK_DOMAIN", Value: id.GetDomain()},
			corev1.EnvVar{Name: "FLYTE_INTERNAL_TASK_NAME", Value: id.GetName()},
			corev1.EnvVar{Name: "FLYTE_INTERNAL_TASK_VERSION", Value: id.GetVersion()},
		)
	}
	for _, k := range sortedKeys(e.Environment) {
		env = append(env, corev1.EnvVar{Name: k, Value: e.Environment[k]})
	}
	for _, k := range sortedKeys(b.k8s.DefaultEnvVars) {
		env = append(env, corev1.EnvVar{Name: k, Value: b.k8s.DefaultEnvVars[k]})
	}
	for _, k := range sortedKeys(b.k8s.DefaultEnvVarsFromEnv) {
		env = append(env, corev1.EnvVar{Name: k, Value: os.Getenv(b.k8s.DefaultEnvVarsFromEnv[k])})
	}
	n := len(b.k8s.DefaultEnvFromSecrets) + len(b.k8s.DefaultEnvFromConfigMaps)
	if n == 0 {
		return env, nil
	}
	from := make([]corev1.EnvFromSource, 0, n)
	optional := true
	for _, s := range b.k8s.DefaultEnvFromSecrets {
		from = append(from, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: s}, Optional: &optional}})
	}
	for _, s := range b.k8s.DefaultEnvFromConfigMaps {
		from = append(from, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: s}, Optional: &optional}})
	}
	return env, from
}

// updatePod applies Flyte's pod-level defaults (UpdatePod).
func (b *builder) updatePod(spec *corev1.PodSpec) {
	k := b.k8s
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyNever
	}
	spec.Tolerations = append(b.podTolerations(spec), spec.Tolerations...)
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = b.t.Exec.ServiceAccount
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = k.SchedulerName
	}
	var interruptibleSelector map[string]string
	if b.interruptible {
		interruptibleSelector = k.InterruptibleNodeSelector
	}
	spec.NodeSelector = unionMaps(k.DefaultNodeSelector, spec.NodeSelector, interruptibleSelector)
	if spec.Affinity == nil && k.DefaultAffinity != nil {
		spec.Affinity = k.DefaultAffinity.DeepCopy()
	}
	if spec.SecurityContext == nil && k.DefaultPodSecurityContext != nil {
		spec.SecurityContext = k.DefaultPodSecurityContext.DeepCopy()
	}
	if k.EnableHostNetworkingPod != nil {
		spec.HostNetwork = *k.EnableHostNetworkingPod
	}
	if spec.DNSConfig == nil && k.DefaultPodDNSConfig != nil {
		spec.DNSConfig = k.DefaultPodDNSConfig.DeepCopy()
	}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	req := k.NonInterruptibleNodeSelectorReq
	if b.interruptible {
		req = k.InterruptibleNodeSelectorRequirement
	}
	if req != nil {
		AddRequiredNodeSelectorRequirements(spec.Affinity, *req)
	}
}

// podTolerations is GetPodTolerations: per-resource tolerations, then the
// interruptible ones, then the defaults.
func (b *builder) podTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	k := b.k8s
	var out []corev1.Toleration
	if len(k.ResourceTolerations) > 0 {
		names := map[corev1.ResourceName]bool{}
		for i := range spec.Containers {
			for n := range spec.Containers[i].Resources.Limits {
				names[n] = true
			}
			for n := range spec.Containers[i].Resources.Requests {
				names[n] = true
			}
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, string(n))
		}
		sort.Strings(sorted)
		for _, n := range sorted {
			out = append(out, k.ResourceTolerations[n]...)
		}
	}
	if b.interruptible {
		out = append(out, k.InterruptibleTolerations...)
	}
	out = append(out, k.DefaultTolerations...)
	return out
}

// AddRequiredNodeSelectorRequirements appends reqs to every required node
// selector term, or creates one term holding them.
func AddRequiredNodeSelectorRequirements(a *corev1.Affinity, reqs ...corev1.NodeSelectorRequirement) {
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := a.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	ns := na.RequiredDuringSchedulingIgnoredDuringExecution
	if len(ns.NodeSelectorTerms) == 0 {
		ns.NodeSelectorTerms = []corev1.NodeSelectorTerm{{MatchExpressions: append([]corev1.NodeSelectorRequirement(nil), reqs...)}}
		return
	}
	for i := range ns.NodeSelectorTerms {
		ns.NodeSelectorTerms[i].MatchExpressions = append(ns.NodeSelectorTerms[i].MatchExpressions, reqs...)
	}
}

// applyGPUNodeSelectors is ApplyGPUNodeSelectors for a GPU accelerator.
func (b *builder) applyGPUNodeSelectors(spec *corev1.PodSpec, acc *core.GPUAccelerator) {
	k := b.k8s
	wantsGPU := false
	for i := range spec.Containers {
		if _, ok := spec.Containers[i].Resources.Limits[k.GpuResourceName]; ok {
			wantsGPU = true
		}
	}
	if !wantsGPU {
		return
	}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	var reqs []corev1.NodeSelectorRequirement
	if d := acc.GetDevice(); d != "" {
		reqs = append(reqs, corev1.NodeSelectorRequirement{Key: k.GpuDeviceNodeLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{d}})
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: k.GpuDeviceNodeLabel, Operator: corev1.TolerationOpEqual, Value: d, Effect: corev1.TaintEffectNoSchedule})
	}
	switch v := acc.GetPartitionSizeValue().(type) {
	case *core.GPUAccelerator_PartitionSize:
		reqs = append(reqs, corev1.NodeSelectorRequirement{Key: k.GpuPartitionSizeNodeLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{v.PartitionSize}})
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: k.GpuPartitionSizeNodeLabel, Operator: corev1.TolerationOpEqual, Value: v.PartitionSize, Effect: corev1.TaintEffectNoSchedule})
	case *core.GPUAccelerator_Unpartitioned:
		if v.Unpartitioned {
			if r := k.GpuUnpartitionedNodeSelectorReq; r != nil {
				reqs = append(reqs, *r.DeepCopy())
			} else {
				reqs = append(reqs, corev1.NodeSelectorRequirement{Key: k.GpuPartitionSizeNodeLabel, Operator: corev1.NodeSelectorOpDoesNotExist})
			}
			if t := k.GpuUnpartitionedToleration; t != nil {
				spec.Tolerations = append(spec.Tolerations, *t.DeepCopy())
			}
		}
	}
	if len(reqs) > 0 {
		AddRequiredNodeSelectorRequirements(spec.Affinity, reqs...)
	}
}

// applySharedMemory is ApplySharedMemory: an in-memory emptyDir mounted into
// the primary container.
func applySharedMemory(spec *corev1.PodSpec, primary string, sm *core.SharedMemory) error {
	field := tf + ".extendedResources.sharedMemory"
	if sm.GetMountName() == "" {
		return task.BadSpec(field+".mountName", "mount name is not set")
	}
	if sm.GetMountPath() == "" {
		return task.BadSpec(field+".mountPath", "mount path is not set")
	}
	idx := ContainerIndex(spec, primary)
	if idx < 0 {
		return task.BadSpec(field, "Unable to find primary container")
	}
	for _, v := range spec.Volumes {
		if v.Name == sm.GetMountName() {
			return task.BadSpec(field+".mountName", "A volume is already named %s in pod spec", v.Name)
		}
	}
	c := &spec.Containers[idx]
	for _, m := range c.VolumeMounts {
		if m.Name == sm.GetMountName() {
			return task.BadSpec(field+".mountName", "A volume is already named %s in container", m.Name)
		}
		if m.MountPath == sm.GetMountPath() {
			return task.BadSpec(field+".mountPath", "%s is already mounted in container", m.MountPath)
		}
	}
	size := resource.Quantity{}
	if s := sm.GetSizeLimit(); s != "" {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return task.BadSpec(field+".sizeLimit", "Unable to parse size limit: %v", err)
		}
		size = q
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: sm.GetMountName(), VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: sm.GetMountName(), MountPath: sm.GetMountPath()})
	return nil
}

// AddTolerationsForExtendedResources adds an Exists/NoSchedule toleration for
// each named resource some container requests, unless one already matches.
func AddTolerationsForExtendedResources(spec *corev1.PodSpec, names []string) {
	if len(names) == 0 {
		return
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, n := range sorted {
		requested := false
		for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
			for i := range list {
				if _, ok := list[i].Resources.Requests[corev1.ResourceName(n)]; ok {
					requested = true
				}
			}
		}
		if !requested {
			continue
		}
		t := corev1.Toleration{Key: n, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
		exists := false
		for i := range spec.Tolerations {
			if spec.Tolerations[i].MatchToleration(&t) {
				exists = true
				break
			}
		}
		if !exists {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// unionMaps returns a new map with the entries of all maps, later ones
// winning (Flyte's UnionMaps), or nil when there are none.
func unionMaps(maps ...map[string]string) map[string]string {
	n := 0
	for _, m := range maps {
		n += len(m)
	}
	if n == 0 {
		return nil // every consumer omits an empty map: no allocation for nothing
	}
	out := make(map[string]string, n)
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// UnionMaps is Flyte's UnionMaps (later maps winning) but for an empty
// result, which is nil: its consumers encode both alike (omitempty).
func UnionMaps(maps ...map[string]string) map[string]string { return unionMaps(maps...) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// podField is the template field a pod comes from, for errors.
func (b *builder) podField() string {
	if b.t.Template.GetK8SPod() != nil {
		return tf + ".k8sPod.podSpec"
	}
	return tf + ".container"
}

// Estimates of JSON sizes, for task.Task.Grow: what a pod may add to an
// expansion. They count what an input can make large (strings, lists) and
// a fixed amount per item for the rest.
const (
	estimatedItemBytes    = 32
	estimatedEnvFromBytes = 96
	estimatedPodBytes     = 512
)

func envBytes(env []corev1.EnvVar) int {
	n := 0
	for i := range env {
		n += len(env[i].Name) + len(env[i].Value) + estimatedItemBytes
		if env[i].ValueFrom != nil {
			n += estimatedEnvFromBytes
		}
	}
	return n
}

func stringsBytes(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s) + 3
	}
	return n
}

// estimateBytes estimates the JSON size of a pod spec before it is
// customized.
func estimateBytes(spec *corev1.PodSpec) int {
	n := estimatedPodBytes + (len(spec.Volumes)+len(spec.Tolerations))*estimatedEnvFromBytes
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			c := &list[i]
			n += estimatedPodBytes + len(c.Name) + len(c.Image) + stringsBytes(c.Command) + stringsBytes(c.Args) +
				envBytes(c.Env) + (len(c.EnvFrom)+len(c.VolumeMounts)+len(c.Ports))*estimatedEnvFromBytes
		}
	}
	return n
}
