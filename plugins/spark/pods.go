package spark

import (
	"sort"
	"strconv"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A SparkApplication has no pod specs: its driver and executor are
// SparkPodSpecs whose image, security context and size (cores, memory, GPU)
// are fields of their own, so the cluster policies read them through the
// plugin (policy.PodViewer) rather than through PodSpecs.

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

func sparkPods(app *sparkv1beta2.SparkApplication) [2]sparkPod {
	return [2]sparkPod{
		{path: field.NewPath("spec", "driver"), spec: &app.Spec.Driver.SparkPodSpec, driver: true, replicas: 1,
			image: PodImage(app, &app.Spec.Driver.SparkPodSpec), coreRequest: app.Spec.Driver.CoreRequest},
		{path: field.NewPath("spec", "executor"), spec: &app.Spec.Executor.SparkPodSpec, replicas: sparkExecutors(app),
			image: PodImage(app, &app.Spec.Executor.SparkPodSpec), coreRequest: app.Spec.Executor.CoreRequest},
	}
}

// Containers implements policy.PodViewer: per driver and executor, its
// main container (whose image is written at its own image field or at
// spec.image), sidecars and init containers, and its pod template's init
// and app containers.
func (Plugin) Containers(obj client.Object) []plugins.Container {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return nil
	}
	var out []plugins.Container
	fn := func(c plugins.Container) { out = append(out, c) }
	for _, p := range sparkPods(app) {
		c := plugins.Container{Base: p.path, Image: p.image, SecurityContext: p.spec.SecurityContext}
		if p.spec.Image != nil {
			c.ImagePath = p.path.Child("image")
		} else {
			c.ImagePath = field.NewPath("spec", "image")
		}
		fn(c)
		plugins.EachContainer(p.path, "sidecars", p.spec.Sidecars, fn)
		plugins.EachContainer(p.path, "initContainers", p.spec.InitContainers, fn)
		if t := p.spec.Template; t != nil {
			tp := p.path.Child("template", "spec")
			plugins.EachContainer(tp, "initContainers", t.Spec.InitContainers, fn)
			plugins.EachContainer(tp, "containers", t.Spec.Containers, fn)
		}
	}
	return out
}

// Volumes implements policy.PodViewer: spec.volumes (shared by the
// driver and the executors), then the pod templates' volumes.
func (Plugin) Volumes(obj client.Object) []plugins.Volume {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return nil
	}
	var out []plugins.Volume
	for i := range app.Spec.Volumes {
		out = append(out, plugins.Volume{Base: field.NewPath("spec"), Index: i, Volume: &app.Spec.Volumes[i]})
	}
	for _, p := range sparkPods(app) {
		if t := p.spec.Template; t != nil {
			for i := range t.Spec.Volumes {
				out = append(out, plugins.Volume{Base: p.path.Child("template", "spec"), Index: i, Volume: &t.Spec.Volumes[i]})
			}
		}
	}
	return out
}

// Pods implements policy.PodViewer: the driver and the executors, sized
// by Spark's rules (mainSize) plus their init containers and sidecars.
func (Plugin) Pods(obj client.Object) []plugins.Pod {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return nil
	}
	out := make([]plugins.Pod, 0, 2)
	for _, p := range sparkPods(app) {
		var rp *field.Path
		if !p.driver {
			rp = sparkExecutorsPath(app)
		}
		out = append(out, plugins.Pod{Path: p.path, ReplicasPath: rp, Replicas: p.replicas,
			InitContainers: p.spec.InitContainers, Containers: p.spec.Sidecars, Main: mainSize(app, p)})
	}
	return out
}

// HostPathSettings implements policy.PodViewer: the sparkConf keys
// spark.kubernetes.{driver,executor}.volumes.hostPath.*, sorted.
func (Plugin) HostPathSettings(obj client.Object) []*field.Path {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return nil
	}
	var keys []string
	for k := range app.Spec.SparkConf {
		if strings.HasPrefix(k, "spark.kubernetes.driver.volumes.hostPath.") ||
			strings.HasPrefix(k, "spark.kubernetes.executor.volumes.hostPath.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []*field.Path
	for _, k := range keys {
		out = append(out, field.NewPath("spec", "sparkConf").Key(k))
	}
	return out
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

// mainSize is what one driver or executor container asks for, by Spark's
// rules: CPU is the largest of cores, coreRequest and coreLimit (default 1
// core); memory is memory (default 1g) plus memoryOverhead (default
// max(384Mi, factor × memory), factor spec.memoryOverheadFactor or 0.1), or
// memoryLimit when larger; GPUs are gpu.quantity of gpu.name. Sidecars and
// init containers add their own resources.
func mainSize(app *sparkv1beta2.SparkApplication, p sparkPod) plugins.MainSize {
	conf := app.Spec.SparkConf
	role := "executor"
	if p.driver {
		role = "driver"
	}
	var main plugins.MainSize
	cores := int64(0)
	if p.spec.Cores != nil {
		cores = int64(*p.spec.Cores)
	} else if n, err := strconv.ParseInt(conf["spark."+role+".cores"], 10, 64); err == nil {
		cores = n
	}
	main.MilliCPU = cores * 1000
	for _, s := range []*string{p.coreRequest, p.spec.CoreLimit} {
		if s == nil {
			continue
		}
		if q, err := resource.ParseQuantity(*s); err == nil {
			main.MilliCPU = max(main.MilliCPU, q.MilliValue())
		}
	}
	if main.MilliCPU == 0 {
		main.MilliCPU = 1000
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
		if s := str(app.Spec.MemoryOverheadFactor, conf["spark."+role+".memoryOverheadFactor"]); s != "" {
			if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
				factor = f
			}
		}
		overhead = max(int64(factor*float64(memory)), 384*mib)
	}
	main.Memory = memory + overhead
	if p.spec.MemoryLimit != nil {
		if q, err := resource.ParseQuantity(*p.spec.MemoryLimit); err == nil {
			main.Memory = max(main.Memory, q.Value())
		}
	}
	if g := p.spec.GPU; g != nil {
		main.GPU, main.GPUs = corev1.ResourceName(g.Name), g.Quantity
	}
	return main
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

// QuantityErrors implements webhook.QuantityChecker: negative driver or
// executor cores (the pod specs of a SparkApplication are synthesized from
// those fields; executor counts are Validate's).
func (Plugin) QuantityErrors(obj client.Object) field.ErrorList {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return nil
	}
	var errs field.ErrorList
	spec := field.NewPath("spec")
	for _, r := range []struct {
		path  *field.Path
		value *int32
	}{
		{spec.Child("driver", "cores"), app.Spec.Driver.Cores},
		{spec.Child("executor", "cores"), app.Spec.Executor.Cores},
	} {
		if r.value != nil && *r.value < 0 {
			errs = append(errs, field.Invalid(r.path, *r.value, "must be greater than or equal to 0"))
		}
	}
	return errs
}
