package podspec

import (
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

func q(s string) resource.Quantity { return resource.MustParse(s) }

func TestApplyResourceOverrides(t *testing.T) {
	platform := Platform{GPU: "nvidia.com/gpu", Requests: corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")}, Limits: corev1.ResourceList{"cpu": q("4")}}
	cases := []struct {
		name          string
		in            corev1.ResourceRequirements
		assign        bool
		wantReq, want corev1.ResourceList
	}{
		{"nothing set takes the platform defaults", corev1.ResourceRequirements{}, true,
			corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")}, corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi")}},
		{"missing request takes the limit", corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("2"), "memory": q("3Gi")}}, true,
			corev1.ResourceList{"cpu": q("2"), "memory": q("3Gi")}, corev1.ResourceList{"cpu": q("2"), "memory": q("3Gi")}},
		{"missing limit takes the request", corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("500m")}}, true,
			corev1.ResourceList{"cpu": q("500m"), "memory": q("1Gi")}, corev1.ResourceList{"cpu": q("500m"), "memory": q("1Gi")}},
		{"limits are clamped to the platform limit and requests to limits", corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": q("8")}, Limits: corev1.ResourceList{"cpu": q("16")}}, true,
			corev1.ResourceList{"cpu": q("4"), "memory": q("1Gi")}, corev1.ResourceList{"cpu": q("4"), "memory": q("1Gi")}},
		{"gpu is adjusted only when present", corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": q("1")}}, true,
			corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi"), "nvidia.com/gpu": q("1")}, corev1.ResourceList{"cpu": q("1"), "memory": q("1Gi"), "nvidia.com/gpu": q("1")}},
		{"sidecars are only clamped and get explicit zeros", corev1.ResourceRequirements{}, false,
			corev1.ResourceList{"cpu": q("0"), "memory": q("0")}, corev1.ResourceList{"cpu": q("0"), "memory": q("0")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ApplyResourceOverrides(*c.in.DeepCopy(), platform, c.assign)
			require.Equal(t, len(c.wantReq), len(got.Requests))
			for k, v := range c.wantReq {
				require.Zero(t, v.Cmp(got.Requests[k]), "request %s: want %s got %s", k, v.String(), got.Requests.Name(k, resource.DecimalSI).String())
			}
			for k, v := range c.want {
				require.Zero(t, v.Cmp(got.Limits[k]), "limit %s", k)
			}
		})
	}
}

func TestRenderArgs(t *testing.T) {
	tk := &task.Task{Name: "8job-n0-0", Exec: task.Execution{Namespace: "p-d", InputPrefix: "s3://b/in", OutputPrefix: "s3://b/out",
		RawOutputPrefix: "s3://b/raw", CheckpointPrefix: "s3://b/ck", TaskTemplatePath: "/t.pb"}}
	v := newArgVars(tk)
	cases := map[string]string{
		"{{.input}}":                    "s3://b/in/inputs.pb",
		"{{ .Input }}":                  "s3://b/in/inputs.pb",
		"{{$inputPrefix}}":              "s3://b/in",
		"--o={{.outputPrefix}}/x":       "--o=s3://b/out/x",
		"{{.rawOutputDataPrefix}}":      "s3://b/raw",
		"{{.checkpointOutputPrefix}}":   "s3://b/ck",
		"{{.prevCheckpointPrefix}}":     `""`,
		"{{.perRetryUniqueKey}}":        "ajob_n0_0",
		"{{.taskTemplatePath}}":         "/t.pb",
		"{{ .Namespace }}":              "p-d",
		"{{.Inputs.x}}":                 "{{.Inputs.x}}",
		"{{.unknown}} {{ broken":        "{{.unknown}} {{ broken",
		"a {{.input}}{{.outputPrefix}}": "a s3://b/in/inputs.pbs3://b/out",
	}
	for in, want := range cases {
		require.Equal(t, want, v.render(in), in)
	}
}

func TestPerRetryUniqueKey(t *testing.T) {
	require.Equal(t, "some_acceptable_name", PerRetryUniqueKey("some-acceptable-name"))
	require.Equal(t, "adask_env_n0_0", PerRetryUniqueKey("8dask-env-n0-0"))
	require.Equal(t, "aa_b", PerRetryUniqueKey("--a..b"))
}

func TestMergeOverlay(t *testing.T) {
	base := &corev1.PodSpec{
		Containers:   []corev1.Container{{Name: "main", Image: "a", Args: []string{"x"}, Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("1")}}}},
		Tolerations:  []corev1.Toleration{{Key: "base"}},
		NodeSelector: map[string]string{"a": "1", "b": "1"},
	}
	overlay := &corev1.PodSpec{
		Containers:        []corev1.Container{{Name: "main", Args: []string{"y"}, Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"memory": q("1Gi")}}}, {Name: "new", Image: "dropped"}},
		Tolerations:       []corev1.Toleration{{Key: "overlay"}},
		NodeSelector:      map[string]string{"b": "2"},
		PriorityClassName: "high",
	}
	got := MergeOverlay(base, overlay)
	require.Len(t, got.Containers, 1, "overlay containers with new names are dropped")
	require.Equal(t, "a", got.Containers[0].Image, "zero values never overwrite")
	require.Equal(t, []string{"x", "y"}, got.Containers[0].Args, "slices are appended")
	require.Len(t, got.Containers[0].Resources.Limits, 2, "resource maps merge key-wise")
	require.Equal(t, []corev1.Toleration{{Key: "base"}, {Key: "overlay"}}, got.Tolerations)
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, got.NodeSelector)
	require.Equal(t, "high", got.PriorityClassName)
	require.Equal(t, []string{"x"}, base.Containers[0].Args, "the base is not modified")
}

func TestUpdatePodInterruptible(t *testing.T) {
	cfg := config.Default()
	k := &cfg.Plugins.K8s
	k.DefaultTolerations = []corev1.Toleration{{Key: "default"}}
	k.InterruptibleTolerations = []corev1.Toleration{{Key: "spot"}}
	k.InterruptibleNodeSelector = config.StringMap{"lifecycle": "spot"}
	k.DefaultNodeSelector = config.StringMap{"pool": "a"}
	k.InterruptibleNodeSelectorRequirement = &corev1.NodeSelectorRequirement{Key: "lifecycle", Operator: "In", Values: []string{"spot"}}
	k.NonInterruptibleNodeSelectorReq = &corev1.NodeSelectorRequirement{Key: "lifecycle", Operator: "NotIn", Values: []string{"spot"}}
	k.ResourceTolerations = map[string][]corev1.Toleration{"nvidia.com/gpu": {{Key: "gpu"}}}
	for _, interruptible := range []bool{true, false} {
		b := builder{t: &task.Task{Exec: task.Execution{ServiceAccount: "sa"}}, cfg: cfg, k8s: k, interruptible: interruptible}
		spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": q("1")}}}},
			Tolerations: []corev1.Toleration{{Key: "own"}}}
		b.updatePod(spec)
		require.Equal(t, corev1.RestartPolicyNever, spec.RestartPolicy)
		require.Equal(t, "sa", spec.ServiceAccountName)
		terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		require.Len(t, terms, 1)
		if interruptible {
			require.Equal(t, []corev1.Toleration{{Key: "gpu"}, {Key: "spot"}, {Key: "default"}, {Key: "own"}}, spec.Tolerations)
			require.Equal(t, map[string]string{"pool": "a", "lifecycle": "spot"}, spec.NodeSelector)
			require.Equal(t, corev1.NodeSelectorOperator("In"), terms[0].MatchExpressions[0].Operator)
		} else {
			require.Equal(t, []corev1.Toleration{{Key: "gpu"}, {Key: "default"}, {Key: "own"}}, spec.Tolerations)
			require.Equal(t, map[string]string{"pool": "a"}, spec.NodeSelector)
			require.Equal(t, corev1.NodeSelectorOperator("NotIn"), terms[0].MatchExpressions[0].Operator)
		}
	}
}

func TestAddTolerationsForExtendedResources(t *testing.T) {
	spec := &corev1.PodSpec{
		Containers:  []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/gpu": q("1"), "example.com/fpga": q("1")}}}},
		Tolerations: []corev1.Toleration{{Key: "example.com/fpga", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
	}
	AddTolerationsForExtendedResources(spec, []string{"nvidia.com/gpu", "example.com/fpga", "not-requested"})
	require.Len(t, spec.Tolerations, 2, "an existing matching toleration is not repeated; unrequested names add nothing")
	require.Equal(t, "nvidia.com/gpu", spec.Tolerations[1].Key)
}

// TestIsDNS1123Label checks the hand-written label check against
// Kubernetes' own.
func TestIsDNS1123Label(t *testing.T) {
	for _, s := range []string{
		"", "a", "0", "-", "a-", "-a", "a-b", "a--b", "abc123-n0-0", "A", "aB", "a.b", "a_b", "é",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "a\x00", "side-n0-0",
	} {
		require.Equal(t, len(validation.IsDNS1123Label(s)) == 0, isDNS1123Label(s), "%q", s)
	}
}

func FuzzIsDNS1123Label(f *testing.F) {
	for _, s := range []string{"a", "a-b", "-a", "a-", "A", strings.Repeat("z", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, len(validation.IsDNS1123Label(s)) == 0, isDNS1123Label(s), "%q", s)
	})
}

// TestPlatformDefaults checks that the configured default requests fill in
// what the platform resources lack, and only that.
func TestPlatformDefaults(t *testing.T) {
	p := Platform{DefaultCPU: q("100m"), DefaultMemory: q("128Mi"), Requests: corev1.ResourceList{"memory": q("1Gi")}}
	got := ApplyResourceOverrides(corev1.ResourceRequirements{}, p, true)
	require.Equal(t, corev1.ResourceList{"cpu": q("100m"), "memory": q("1Gi")}, got.Requests)
	require.Equal(t, corev1.ResourceList{"cpu": q("100m"), "memory": q("1Gi")}, got.Limits)
}

// TestReuse checks that a reused pod is what a second Build gives, charged
// alike, and that it and the original can be changed apart.
func TestReuse(t *testing.T) {
	ann := map[string]string{
		task.TemplateAnnotation:  `{"id":{"name":"t"},"type":"dask","container":{"image":"img","args":["run","{{.input}}"],"env":[{"key":"A","value":"1"}],"resources":{"requests":[{"name":"CPU","value":"1"}]}}}`,
		task.ExecutionAnnotation: `{"project":"p","domain":"d","name":"e","node":"n0","namespace":"p-d","inputPrefix":"s3://b/in"}`,
	}
	cfg := config.Default()
	built, err := task.New("job-n0-0", "p-d", ann)
	require.NoError(t, err)
	first, err := Build(built, cfg, nil, false)
	require.NoError(t, err)
	second, err := Build(built, cfg, nil, false)
	require.NoError(t, err)

	reused, err := task.New("job-n0-0", "p-d", ann)
	require.NoError(t, err)
	orig, err := Build(reused, cfg, nil, false)
	require.NoError(t, err)
	again, err := orig.Reuse(reused)
	require.NoError(t, err)

	require.Equal(t, second.Spec, again.Spec)
	require.Equal(t, first.Spec, orig.Spec)
	require.Equal(t, built.Generated(), reused.Generated(), "a reuse is charged as a build is")
	again.Spec.Containers[0].Name = "scheduler"
	again.Spec.Containers[0].Env = append(again.Spec.Containers[0].Env, corev1.EnvVar{Name: "B"})
	require.Equal(t, first.Spec, orig.Spec, "changing the reused pod leaves the original as built")
}
