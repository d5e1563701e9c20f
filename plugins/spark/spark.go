// Package spark is Flyte's Spark plugin at admission: it expands a spark task
// into a SparkApplication (driver always on non-interruptible nodes), checks
// that invariant on every SparkApplication and maps application states to
// Flyte phases with the Spark log links.
package spark

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	flyteplugins "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GVK is the SparkApplication kind.
var GVK = sparkv1beta2.SchemeGroupVersion.WithKind("SparkApplication")

// Plugin is the Spark plugin.
type Plugin struct{}

// New returns the Spark plugin.
func New() Plugin { return Plugin{} }

// Kind implements plugins.Plugin.
func (Plugin) Kind() schema.GroupVersionKind { return GVK }

// TaskTypes implements plugins.TaskTyper.
func (Plugin) TaskTypes() []string { return []string{"spark"} }

// NewObject implements plugins.Plugin.
func (Plugin) NewObject() client.Object { return &sparkv1beta2.SparkApplication{} }

const customField = task.TemplateField + ".custom"

// Expand implements expand.Plugin (Flyte's BuildResource).
func (Plugin) Expand(_ context.Context, t *task.Task, env plugins.Env) (client.Object, error) {
	msg, err := t.Custom(&flyteplugins.SparkJob{})
	if err != nil {
		return nil, task.BadSpec(customField, "invalid TaskSpecification [%s], failed to unmarshal: %v", customText(t), err)
	}
	job := msg.(*flyteplugins.SparkJob)
	if job.GetMainApplicationFile() == "" && job.GetMainClass() == "" {
		return nil, task.BadSpec(customField, "invalid TaskSpecification [%s]., caused by: either MainApplicationFile or MainClass must be set", customText(t))
	}
	if err := templateCountErrors(job.GetSparkConf()); err != nil {
		return nil, err
	}
	cfg := env.Config
	conf := sparkConfig(job, &cfg.Plugins.Spark, t.Name, env.Clock())
	dropOperatorManagedConf(conf, t.Namespace)

	driverPod, err := podspec.Build(t, env.Config, env.Templates, driverInterruptible)
	if err != nil {
		return nil, err
	}
	driver, _, err := podSpec(t, env, &driverPod, job.GetDriverPod(), "driverPod")
	if err != nil {
		return nil, err
	}
	// The executors of a task that is not interruptible run the driver's
	// pod: built once (podSpec only reads it).
	var execPod podspec.Result
	if t.Interruptible() == driverInterruptible {
		execPod, err = driverPod.Reuse(t)
	} else {
		execPod, err = podspec.Build(t, env.Config, env.Templates, t.Interruptible())
	}
	if err != nil {
		return nil, err
	}
	executor, execContainer, err := podSpec(t, env, &execPod, job.GetExecutorPod(), "executorPod")
	if err != nil {
		return nil, err
	}
	// The operator's rules come after Flyte's own, so that where Flyte
	// refuses a task its error is the one given.
	if err := mainApplicationFileError(job.GetMainApplicationFile()); err != nil {
		return nil, err
	}
	if errs := applicationNameErrors(t.Name); len(errs) > 0 {
		return nil, task.BadSpec(errs[0].Field, "%s", errs[0].Detail)
	}
	a := applications.Get()
	app := &a.SparkApplication
	app.APIVersion, app.Kind = GVK.GroupVersion().String(), GVK.Kind
	app.Spec = sparkv1beta2.SparkApplicationSpec{
		Type:          appType(job.GetApplicationType()),
		Mode:          sparkv1beta2.DeployModeCluster,
		Image:         &execContainer.Image,
		Arguments:     execContainer.Args,
		SparkConf:     conf,
		RestartPolicy: sparkv1beta2.RestartPolicy{Type: sparkv1beta2.RestartPolicyOnFailure, OnSubmissionFailureRetries: ptr.To(int32(14))},
		Driver:        sparkv1beta2.DriverSpec{SparkPodSpec: driver.pod, PriorityClassName: driver.priorityClass},
		Executor:      sparkv1beta2.ExecutorSpec{SparkPodSpec: executor.pod, PriorityClassName: executor.priorityClass},
	}
	if f := job.GetMainApplicationFile(); f != "" {
		app.Spec.MainApplicationFile = &f
	}
	if c := job.GetMainClass(); c != "" {
		app.Spec.MainClass = &c
	}
	if len(job.GetHadoopConf()) > 0 {
		app.Spec.HadoopConf = make(map[string]string, len(job.GetHadoopConf()))
		for k, v := range job.GetHadoopConf() {
			app.Spec.HadoopConf[k] = v
		}
	}
	if bs, ok := conf["spark.batchScheduler"]; ok {
		app.Spec.BatchScheduler = &bs
	}
	d := &app.Spec.Driver
	if n := atoi(conf["spark.driver.cores"]); n != 0 {
		d.Cores = &n
	}
	if m := conf["spark.driver.memory"]; m != "" {
		d.Memory = &m
	}
	e := &app.Spec.Executor
	if n := atoi(conf["spark.executor.cores"]); n != 0 {
		e.Cores = &n
	}
	if n := atoi(conf["spark.executor.instances"]); n != 0 {
		e.Instances = &n
	}
	if m := conf["spark.executor.memory"]; m != "" {
		e.Memory = &m
	}
	return a, nil
}

// application is a SparkApplication expansion: a client.Object like the
// SparkApplication it embeds, recycled once the expansion has been encoded.
type application struct{ sparkv1beta2.SparkApplication }

// applications keeps at most 32 applications (64 KB) for the next
// expansions.
var applications = plugins.NewRecycled[application](32)

// Recycle implements expand.Recycler: obj, a SparkApplication this plugin's
// Expand returned, has been encoded and is not used any more.
func (Plugin) Recycle(obj client.Object) { applications.PutBack(obj) }

func customText(t *task.Task) string {
	b, _ := protojson.Marshal(t.Template.GetCustom())
	return string(b)
}

func atoi(s string) int32 {
	if s == "" {
		return 0 // unset: no parse error to make
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func appType(t flyteplugins.SparkApplication_Type) sparkv1beta2.SparkApplicationType {
	switch t {
	case flyteplugins.SparkApplication_JAVA:
		return sparkv1beta2.SparkApplicationTypeJava
	case flyteplugins.SparkApplication_SCALA:
		return sparkv1beta2.SparkApplicationTypeScala
	case flyteplugins.SparkApplication_R:
		return sparkv1beta2.SparkApplicationTypeR
	}
	return sparkv1beta2.SparkApplicationTypePython
}

var featureRegexp = regexp.MustCompile(`^spark.((flyteorg)|(flyte)).(.+).enabled$`)

// sparkConfig is getSparkConfig: defaults, executor path, the job's conf with
// feature flags expanded, core limits, pod name prefix and start time.
func sparkConfig(job *flyteplugins.SparkJob, cfg *config.Spark, name string, now time.Time) map[string]string {
	conf := make(map[string]string, len(cfg.DefaultSparkConfig)+len(job.GetSparkConf())+6)
	for k, v := range cfg.DefaultSparkConfig {
		conf[k] = v
	}
	if p := job.GetExecutorPath(); p != "" {
		conf["spark.pyspark.python"] = p
		conf["spark.pyspark.driver.python"] = p
	}
	keys := make([]string, 0, len(job.GetSparkConf()))
	for k := range job.GetSparkConf() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := job.GetSparkConf()[k]
		if m := featureRegexp.FindStringSubmatch(k); m != nil && strings.ToLower(strings.TrimSpace(v)) == "true" {
			if f := feature(cfg, m[len(m)-1]); f != nil {
				for fk, fv := range f.SparkConfig {
					conf[fk] = fv
				}
				continue
			}
		}
		conf[k] = v
	}
	for _, role := range [...]struct{ limit, request, cores string }{
		{"spark.kubernetes.driver.limit.cores", "spark.kubernetes.driver.request.cores", "spark.driver.cores"},
		{"spark.kubernetes.executor.limit.cores", "spark.kubernetes.executor.request.cores", "spark.executor.cores"},
	} {
		if conf[role.limit] != "" {
			continue
		}
		if v := conf[role.request]; v != "" {
			conf[role.limit] = v
		} else if v := conf[role.cores]; v != "" {
			conf[role.limit] = v
		}
	}
	conf["spark.kubernetes.executor.podNamePrefix"] = name
	conf["spark.kubernetes.driverEnv.FLYTE_START_TIME"] = strconv.FormatInt(now.UnixMilli(), 10)
	return conf
}

func feature(cfg *config.Spark, name string) *config.Feature {
	for i := range cfg.Features {
		if cfg.Features[i].Name == name {
			return &cfg.Features[i]
		}
	}
	return nil
}

type role struct {
	pod           sparkv1beta2.SparkPodSpec
	priorityClass *string
}

// podSpec is createDriverSpec / createExecutorSpec up to createSparkPodSpec:
// from ToK8sPodSpec's res (read only), the driverPod/executorPod overlay and
// the SparkPodSpec fields Flyte carries over.
func podSpec(t *task.Task, env plugins.Env, res *podspec.Result, overlay *core.K8SPod, overlayName string) (role, *corev1.Container, error) {
	spec := &res.Spec
	primary := res.Primary
	if overlay != nil {
		if overlay.GetPodSpec() != nil {
			custom, err := t.PodSpec(overlay.GetPodSpec())
			if err != nil {
				return role{}, nil, task.BadSpec(customField+"."+overlayName+".podSpec", "Unable to unmarshal %s spec: %v", strings.TrimSuffix(overlayName, "Pod")+" pod", err)
			}
			spec = podspec.MergeOverlay(spec, custom)
		}
		if n := overlay.GetPrimaryContainerName(); n != "" {
			primary = n
		}
	}
	idx := podspec.ContainerIndex(spec, primary)
	if idx < 0 {
		return role{}, nil, task.BadSpec(customField+"."+overlayName, "invalid TaskSpecification, container [%s] not defined", primary)
	}
	c := &spec.Containers[idx]
	cfg := &env.Config.Plugins.K8s
	envVars := make([]corev1.EnvVar, 0, len(c.Env)+1)
	envVars = append(envVars, c.Env...)
	envVars = append(envVars, corev1.EnvVar{Name: "FLYTE_MAX_ATTEMPTS", Value: strconv.FormatUint(uint64(t.MaxAttempts()), 10)})
	sa := t.Exec.ServiceAccount
	if sa == "" {
		sa = "spark"
	}
	// The pointers are to copies, not into spec: res stays off the heap.
	r := role{pod: sparkv1beta2.SparkPodSpec{
		Annotations:        podspec.UnionMaps(cfg.DefaultAnnotations, res.Annotations, plugins.Annotations(t), overlay.GetMetadata().GetAnnotations()),
		Labels:             podspec.UnionMaps(cfg.DefaultLabels, res.Labels, plugins.Labels(t), overlay.GetMetadata().GetLabels()),
		Env:                envVars,
		Image:              &c.Image,
		PodSecurityContext: spec.SecurityContext,
		SecurityContext:    c.SecurityContext,
		DNSConfig:          spec.DNSConfig,
		Tolerations:        spec.Tolerations,
		NodeSelector:       spec.NodeSelector,
		Affinity:           spec.Affinity,
		SchedulerName:      ptr.To(spec.SchedulerName),
		HostNetwork:        ptr.To(spec.HostNetwork),
		ServiceAccount:     &sa,
	}}
	if spec.PriorityClassName != "" {
		r.priorityClass = ptr.To(spec.PriorityClassName)
	}
	return r, c, nil
}
