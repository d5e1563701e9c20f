package policy

import (
	"math"

	"github.com/flyte-admission/flyte-admission/plugins"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// view is an object's pods as the policies see them: the plugin's
// PodSpecRefs, or, for a kind whose pods are not pod specs, the plugin's own
// walk of them (PodViewer). Field paths are built only when a violation is
// reported.
type view struct {
	obj    client.Object
	refs   []plugins.PodSpecRef
	viewer PodViewer
}

func newView(obj client.Object, pods Pods) *view {
	return &view{obj: obj, refs: pods.Specs, viewer: pods.viewer}
}

// eachContainer calls fn for every container, init container and sidecar.
func (v *view) eachContainer(fn func(c plugins.Container)) {
	if v.viewer != nil {
		for _, c := range v.viewer.Containers(v.obj) {
			fn(c)
		}
		return
	}
	for i := range v.refs {
		r := &v.refs[i]
		if r.Spec == nil {
			continue
		}
		plugins.EachContainer(r.Path, "initContainers", r.Spec.InitContainers, fn)
		plugins.EachContainer(r.Path, "containers", r.Spec.Containers, fn)
	}
}

// eachVolume calls fn for every volume of every pod.
func (v *view) eachVolume(fn func(vol plugins.Volume)) {
	if v.viewer != nil {
		for _, vol := range v.viewer.Volumes(v.obj) {
			fn(vol)
		}
		return
	}
	for i := range v.refs {
		r := &v.refs[i]
		if r.Spec == nil {
			continue
		}
		for j := range r.Spec.Volumes {
			fn(plugins.Volume{Base: r.Path, Index: j, Volume: &r.Spec.Volumes[j]})
		}
	}
}

// amounts are the resources a pod (or job) uses at most: CPU in millicores,
// memory in bytes, GPUs in units.
type amounts struct{ cpu, memory, gpu int64 }

// add and times saturate at math.MaxInt64: a total too large to count must
// still exceed every limit (an overflow would wrap it to a small or negative
// number that passes).
func (a *amounts) add(b amounts) {
	a.cpu = satAdd(a.cpu, b.cpu)
	a.memory = satAdd(a.memory, b.memory)
	a.gpu = satAdd(a.gpu, b.gpu)
}

func satAdd(x, y int64) int64 {
	if y > 0 && x > math.MaxInt64-y {
		return math.MaxInt64
	}
	return x + y
}

func satMul(x int64, n int) int64 {
	if x <= 0 || n <= 0 {
		return x * int64(max(n, 0))
	}
	if x > math.MaxInt64/int64(n) {
		return math.MaxInt64
	}
	return x * int64(n)
}

func (a *amounts) max(b amounts) {
	a.cpu = max(a.cpu, b.cpu)
	a.memory = max(a.memory, b.memory)
	a.gpu = max(a.gpu, b.gpu)
}

func (a amounts) times(n int) amounts {
	return amounts{satMul(a.cpu, n), satMul(a.memory, n), satMul(a.gpu, n)}
}

// eachPod calls fn with the size of one pod of every pod spec and how many
// pods run it.
// replicasPath is where the count is written (nil: a single pod).
func (v *view) eachPod(gpuNames []corev1.ResourceName, fn func(path, replicasPath *field.Path, replicas int, size amounts)) {
	if v.viewer != nil {
		for _, p := range v.viewer.Pods(v.obj) {
			fn(p.Path, p.ReplicasPath, p.Replicas, podSize(p.InitContainers, p.Containers, p.Overhead, mainSize(p.Main, gpuNames), gpuNames))
		}
		return
	}
	for i := range v.refs {
		r := &v.refs[i]
		if r.Spec == nil {
			continue
		}
		fn(r.Path, r.ReplicasPath, r.Replicas, podSize(r.Spec.InitContainers, r.Spec.Containers, r.Spec.Overhead, amounts{}, gpuNames))
	}
}

// podSize is the pod's effective size the way the scheduler computes it: the
// larger of (app containers + restartable init sidecars) and the largest
// init container (plus the sidecars started before it), plus the overhead.
// main is an extra app container (a Spark driver or executor).
func podSize(inits, apps []corev1.Container, overhead corev1.ResourceList, main amounts, gpuNames []corev1.ResourceName) amounts {
	var sidecars, initMax amounts
	for i := range inits {
		r := containerSize(&inits[i].Resources, gpuNames)
		if inits[i].RestartPolicy != nil && *inits[i].RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.add(r)
			initMax.max(sidecars)
			continue
		}
		r.add(sidecars)
		initMax.max(r)
	}
	total := main
	for i := range apps {
		total.add(containerSize(&apps[i].Resources, gpuNames))
	}
	total.add(sidecars)
	total.max(initMax)
	total.add(listSize(overhead, nil, gpuNames))
	return total
}

// containerSize takes, per resource, the larger of request and limit.
func containerSize(r *corev1.ResourceRequirements, gpuNames []corev1.ResourceName) amounts {
	return listSize(r.Requests, r.Limits, gpuNames)
}

func listSize(requests, limits corev1.ResourceList, gpuNames []corev1.ResourceName) amounts {
	get := func(name corev1.ResourceName, milli bool) int64 {
		q, ok := requests[name]
		l, lok := limits[name]
		if !ok || (lok && l.Cmp(q) > 0) {
			q, ok = l, lok
		}
		if !ok {
			return 0
		}
		if milli {
			return q.MilliValue()
		}
		return q.Value()
	}
	a := amounts{cpu: get(corev1.ResourceCPU, true), memory: get(corev1.ResourceMemory, false)}
	for _, n := range gpuNames {
		a.gpu += get(n, false)
	}
	return a
}

// mainSize is the size of a container written as fields of its own, its
// GPUs counted when their resource name is one of gpuNames.
func mainSize(m plugins.MainSize, gpuNames []corev1.ResourceName) amounts {
	a := amounts{cpu: m.MilliCPU, memory: m.Memory}
	for _, n := range gpuNames {
		if m.GPU == n {
			a.gpu += m.GPUs
		}
	}
	return a
}
