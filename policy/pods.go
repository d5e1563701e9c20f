package policy

import (
	"math"
	"strconv"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/spark"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// view is an object's pods as the policies see them. Most kinds carry real
// pod specs (the plugin's PodSpecRefs); a SparkApplication does not: its
// driver and executor are SparkPodSpecs whose image, security context and
// size (cores, memory, GPU) are fields of their own, so it is read directly.
// Field paths are built only when a violation is reported.
type view struct {
	obj   client.Object
	refs  []plugins.PodSpecRef
	spark *sparkv1beta2.SparkApplication
}

func newView(obj client.Object, refs []plugins.PodSpecRef) *view {
	v := &view{obj: obj, refs: refs}
	v.spark, _ = obj.(*sparkv1beta2.SparkApplication)
	return v
}

// container is one container of a pod, wherever it is written.
type container struct {
	base  *field.Path // the pod spec (for Spark's main containers: the SparkPodSpec)
	list  string      // containers, initContainers, sidecars; "" for Spark's main containers
	index int
	image string
	// imagePath is where a Spark main container's image is written
	// (its own image field or spec.image).
	imagePath *field.Path
	security  *corev1.SecurityContext
}

func (c *container) path() *field.Path {
	if c.list == "" {
		return c.base
	}
	return c.base.Child(c.list).Index(c.index)
}

func (c *container) pathImage() *field.Path {
	if c.imagePath != nil {
		return c.imagePath
	}
	return c.path().Child("image")
}

// volume is one volume of a pod.
type volume struct {
	base  *field.Path // the pod spec (or, for Spark, spec)
	index int
	v     *corev1.Volume
}

func (v *volume) path() *field.Path { return v.base.Child("volumes").Index(v.index) }

// eachContainer calls fn for every container, init container and sidecar.
func (v *view) eachContainer(fn func(c container)) {
	if v.spark != nil {
		for _, p := range v.sparkPods() {
			c := container{base: p.path, image: p.image, security: p.spec.SecurityContext}
			if p.spec.Image != nil {
				c.imagePath = p.path.Child("image")
			} else {
				c.imagePath = field.NewPath("spec", "image")
			}
			fn(c)
			eachOf(p.path, "sidecars", p.spec.Sidecars, fn)
			eachOf(p.path, "initContainers", p.spec.InitContainers, fn)
			if t := p.spec.Template; t != nil {
				tp := p.path.Child("template", "spec")
				eachOf(tp, "initContainers", t.Spec.InitContainers, fn)
				eachOf(tp, "containers", t.Spec.Containers, fn)
			}
		}
		return
	}
	for i := range v.refs {
		r := &v.refs[i]
		if r.Spec == nil {
			continue
		}
		eachOf(r.Path, "initContainers", r.Spec.InitContainers, fn)
		eachOf(r.Path, "containers", r.Spec.Containers, fn)
	}
}

func eachOf(base *field.Path, list string, cs []corev1.Container, fn func(c container)) {
	for i := range cs {
		fn(container{base: base, list: list, index: i, image: cs[i].Image, security: cs[i].SecurityContext})
	}
}

// eachVolume calls fn for every volume of every pod.
func (v *view) eachVolume(fn func(vol volume)) {
	if v.spark != nil {
		// spec.volumes are shared by the driver and the executors.
		for i := range v.spark.Spec.Volumes {
			fn(volume{base: field.NewPath("spec"), index: i, v: &v.spark.Spec.Volumes[i]})
		}
		for _, p := range v.sparkPods() {
			if t := p.spec.Template; t != nil {
				for i := range t.Spec.Volumes {
					fn(volume{base: p.path.Child("template", "spec"), index: i, v: &t.Spec.Volumes[i]})
				}
			}
		}
		return
	}
	for i := range v.refs {
		r := &v.refs[i]
		if r.Spec == nil {
			continue
		}
		for j := range r.Spec.Volumes {
			fn(volume{base: r.Path, index: j, v: &r.Spec.Volumes[j]})
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
	if v.spark != nil {
		for _, p := range v.sparkPods() {
			var rp *field.Path
			if !p.driver {
				rp = sparkExecutorsPath(v.spark)
			}
			fn(p.path, rp, p.replicas, v.sparkSize(p, gpuNames))
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

// sparkPod is a SparkApplication's driver or executor.
type sparkPod struct {
	path     *field.Path
	spec     *sparkv1beta2.SparkPodSpec
	driver   bool
	replicas int
	image    string
	// coreRequest is the driver's or executor's coreRequest.
	coreRequest *string
}

func (v *view) sparkPods() [2]sparkPod {
	app := v.spark
	return [2]sparkPod{
		{path: field.NewPath("spec", "driver"), spec: &app.Spec.Driver.SparkPodSpec, driver: true, replicas: 1,
			image: spark.PodImage(app, &app.Spec.Driver.SparkPodSpec), coreRequest: app.Spec.Driver.CoreRequest},
		{path: field.NewPath("spec", "executor"), spec: &app.Spec.Executor.SparkPodSpec, replicas: sparkExecutors(app),
			image: spark.PodImage(app, &app.Spec.Executor.SparkPodSpec), coreRequest: app.Spec.Executor.CoreRequest},
	}
}

// sparkExecutors is the most executors the application may run: the dynamic
// allocation maximum when enabled, else its instances (or
// spark.executor.instances; the operator defaults to 1).
func sparkExecutors(app *sparkv1beta2.SparkApplication) int {
	if d := app.Spec.DynamicAllocation; d != nil && d.Enabled {
		if d.MaxExecutors != nil {
			return int(*d.MaxExecutors)
		}
		if n, err := strconv.Atoi(app.Spec.SparkConf["spark.dynamicAllocation.maxExecutors"]); err == nil {
			return n
		}
	}
	if n := app.Spec.Executor.Instances; n != nil {
		return int(*n)
	}
	if n, err := strconv.Atoi(app.Spec.SparkConf["spark.executor.instances"]); err == nil {
		return n
	}
	return 1
}

// sparkExecutorsPath is where sparkExecutors found the count (nil: nowhere,
// the operator's default).
func sparkExecutorsPath(app *sparkv1beta2.SparkApplication) *field.Path {
	spec := field.NewPath("spec")
	if d := app.Spec.DynamicAllocation; d != nil && d.Enabled {
		if d.MaxExecutors != nil {
			return spec.Child("dynamicAllocation", "maxExecutors")
		}
		if _, err := strconv.Atoi(app.Spec.SparkConf["spark.dynamicAllocation.maxExecutors"]); err == nil {
			return spec.Child("sparkConf").Key("spark.dynamicAllocation.maxExecutors")
		}
	}
	if app.Spec.Executor.Instances != nil {
		return spec.Child("executor", "instances")
	}
	if _, err := strconv.Atoi(app.Spec.SparkConf["spark.executor.instances"]); err == nil {
		return spec.Child("sparkConf").Key("spark.executor.instances")
	}
	return nil
}

const mib = 1 << 20

// sparkSize is what one driver or executor pod asks for, by Spark's rules:
// CPU is the largest of cores, coreRequest and coreLimit (default 1 core);
// memory is memory (default 1g) plus memoryOverhead (default max(384Mi,
// factor × memory), factor spec.memoryOverheadFactor or 0.1), or memoryLimit
// when larger; GPUs are gpu.quantity of gpu.name. Sidecars and init containers
// add their own resources.
func (v *view) sparkSize(p sparkPod, gpuNames []corev1.ResourceName) amounts {
	conf := v.spark.Spec.SparkConf
	role := "executor"
	if p.driver {
		role = "driver"
	}
	var main amounts
	cores := int64(0)
	if p.spec.Cores != nil {
		cores = int64(*p.spec.Cores)
	} else if n, err := strconv.ParseInt(conf["spark."+role+".cores"], 10, 64); err == nil {
		cores = n
	}
	main.cpu = cores * 1000
	for _, s := range []*string{p.coreRequest, p.spec.CoreLimit} {
		if s == nil {
			continue
		}
		if q, err := resource.ParseQuantity(*s); err == nil {
			main.cpu = max(main.cpu, q.MilliValue())
		}
	}
	if main.cpu == 0 {
		main.cpu = 1000
	}

	memory := int64(1024 * mib)
	if s := str(p.spec.Memory, conf["spark."+role+".memory"]); s != "" {
		if n, ok := jvmBytes(s); ok {
			memory = n
		}
	}
	overhead := int64(-1)
	if s := str(p.spec.MemoryOverhead, conf["spark."+role+".memoryOverhead"]); s != "" {
		if n, ok := jvmBytes(s); ok {
			overhead = n
		}
	}
	if overhead < 0 {
		factor := 0.1
		if s := str(v.spark.Spec.MemoryOverheadFactor, conf["spark."+role+".memoryOverheadFactor"]); s != "" {
			if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
				factor = f
			}
		}
		overhead = max(int64(factor*float64(memory)), 384*mib)
	}
	main.memory = memory + overhead
	if p.spec.MemoryLimit != nil {
		if q, err := resource.ParseQuantity(*p.spec.MemoryLimit); err == nil {
			main.memory = max(main.memory, q.Value())
		}
	}
	if g := p.spec.GPU; g != nil {
		for _, n := range gpuNames {
			if corev1.ResourceName(g.Name) == n {
				main.gpu += g.Quantity
			}
		}
	}
	return podSize(p.spec.InitContainers, p.spec.Sidecars, nil, main, gpuNames)
}

func str(p *string, fallback string) string {
	if p != nil {
		return *p
	}
	return fallback
}

// jvmBytes parses a JVM memory string (Spark's format: 512m, 2g, 1024k, 1t;
// no unit means MiB, as for spark.driver.memory).
func jvmBytes(s string) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(mib)
	if n := len(s); n > 1 && s[n-1] == 'b' {
		if c := s[n-2]; c >= '0' && c <= '9' {
			mult = 1 // 100b: bytes
		}
		s = s[:n-1]
	}
	if n := len(s); n > 0 && mult == mib {
		switch s[n-1] {
		case 'k':
			mult, s = 1<<10, s[:n-1]
		case 'm':
			mult, s = mib, s[:n-1]
		case 'g':
			mult, s = 1<<30, s[:n-1]
		case 't':
			mult, s = 1<<40, s[:n-1]
		case 'p':
			mult, s = 1<<50, s[:n-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n * mult, true
}
