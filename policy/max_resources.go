package policy

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultGPUResourceNames are the resources MaxResources counts as GPUs unless
// told otherwise.
var DefaultGPUResourceNames = []corev1.ResourceName{"nvidia.com/gpu", "amd.com/gpu"}

// Limits caps CPU, memory and GPUs; a nil field is no cap.
type Limits struct {
	CPU, Memory, GPU *resource.Quantity
}

// MaxResources caps what one pod and what the whole job (every pod spec times
// its replicas: Ray worker groups at their maximum, Spark executors at
// their instances or dynamic-allocation maximum, Dask workers) may use. A
// container counts the larger of its request and limit; a pod counts its
// containers the way the scheduler does (init containers, sidecars,
// overhead). A SparkApplication's sizes come from its cores, coreRequest,
// coreLimit, memory, memoryOverhead, memoryLimit and gpu fields.
type MaxResources struct {
	PerPod, PerJob Limits
	// GPUResourceNames are the resources counted as GPUs (nil: DefaultGPUResourceNames).
	GPUResourceNames []corev1.ResourceName
}

// Name implements Policy.
func (MaxResources) Name() string { return "max-resources" }

// Check implements Policy.
func (p MaxResources) Check(obj client.Object, pods Pods) field.ErrorList {
	return p.check(newView(obj, pods))
}

func (p MaxResources) check(v *view) field.ErrorList {
	gpus := p.GPUResourceNames
	if gpus == nil {
		gpus = DefaultGPUResourceNames
	}
	var errs field.ErrorList
	var job amounts
	pods := 0
	// The pod spec that adds the most of each resource to the job: a per-job
	// refusal names its replica count (or the pod spec, for a single pod).
	var most [3]int64
	var mostPath [3]*field.Path
	v.eachPod(gpus, func(path, replicasPath *field.Path, replicas int, size amounts) {
		for _, x := range p.PerPod.exceeded(size) {
			errs = append(errs, field.Forbidden(path,
				fmt.Sprintf("one pod uses %s %s, more than the per-pod maximum %s (policy %s)", x.name, x.used, x.limit, p.Name())))
		}
		total := size.times(replicas)
		job.add(total)
		pods = int(satAdd(int64(pods), int64(max(replicas, 0))))
		at := path
		if replicasPath != nil {
			at = replicasPath
		}
		for i, n := range [3]int64{total.cpu, total.memory, total.gpu} {
			if mostPath[i] == nil || n > most[i] {
				most[i], mostPath[i] = n, at
			}
		}
	})
	for _, x := range p.PerJob.exceeded(job) {
		at := mostPath[x.index]
		if at == nil {
			at = field.NewPath("spec")
		}
		errs = append(errs, field.Forbidden(at,
			fmt.Sprintf("the job's %d pods use %s %s in total, more than the per-job maximum %s (policy %s)", pods, x.name, x.used, x.limit, p.Name())))
	}
	return errs
}

// excess is one resource over a limit; index is 0 for CPU, 1 for memory,
// 2 for GPUs.
type excess struct {
	name, used, limit string
	index             int
}

func (l Limits) exceeded(a amounts) []excess {
	var out []excess
	if l.CPU != nil && a.cpu > l.CPU.MilliValue() {
		out = append(out, excess{"cpu", resource.NewMilliQuantity(a.cpu, resource.DecimalSI).String(), l.CPU.String(), 0})
	}
	if l.Memory != nil && a.memory > l.Memory.Value() {
		out = append(out, excess{"memory", resource.NewQuantity(a.memory, resource.BinarySI).String(), l.Memory.String(), 1})
	}
	if l.GPU != nil && a.gpu > l.GPU.Value() {
		out = append(out, excess{"gpu", strconv.FormatInt(a.gpu, 10), l.GPU.String(), 2})
	}
	return out
}
