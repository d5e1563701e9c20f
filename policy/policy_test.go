package policy

import (
	"math"
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/dask"
	"github.com/flyte-admission/flyte-admission/plugins/ray"
	"github.com/flyte-admission/flyte-admission/plugins/spark"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// decode reads a YAML object into its plugin's type and returns its pods.
func decode(t *testing.T, p plugins.Plugin, doc string) (client.Object, Pods) {
	t.Helper()
	obj := p.NewObject()
	require.NoError(t, yaml.UnmarshalStrict([]byte(doc), obj))
	return obj, PodsOf(p, obj)
}

const rayJob = `
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: rj, namespace: team-a, labels: {team: ml}}
spec:
  rayClusterSpec:
    headGroupSpec:
      template:
        spec:
          containers:
          - name: ray-head
            image: ghcr.io/flyteorg/ray:1
            resources: {requests: {cpu: "2", memory: 4Gi}, limits: {cpu: "4", memory: 8Gi}}
    workerGroupSpecs:
    - groupName: gpu
      replicas: 2
      maxReplicas: 4
      template:
        spec:
          initContainers:
          - {name: fetch, image: busybox, resources: {limits: {cpu: "8", memory: 1Gi}}}
          containers:
          - name: ray-worker
            image: ghcr.io/flyteorg/ray:1
            resources: {limits: {cpu: "3", memory: 16Gi, nvidia.com/gpu: "2"}}
          - name: sidecar
            image: docker.io/evil/miner:latest
            securityContext: {privileged: true}
            resources: {requests: {cpu: 500m, memory: 1Gi}}
          volumes:
          - {name: data, emptyDir: {}}
          - {name: host, hostPath: {path: /var/run}}
`

const sparkApp = `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: sp, namespace: team-a}
spec:
  type: Python
  mode: cluster
  image: ghcr.io/flyteorg/spark:1
  mainApplicationFile: local:///app.py
  sparkVersion: "3.5.0"
  sparkConf:
    spark.kubernetes.executor.volumes.hostPath.scratch.mount.path: /scratch
  volumes:
  - {name: host, hostPath: {path: /data}}
  driver:
    cores: 2
    memory: 4g
    securityContext: {privileged: true}
  executor:
    image: quay.io/other/spark:1
    instances: 10
    cores: 4
    coreLimit: "5"
    memory: 8g
    memoryOverhead: 2g
    gpu: {name: nvidia.com/gpu, quantity: 1}
    sidecars:
    - {name: logs, image: fluent/fluent-bit:3, resources: {limits: {cpu: "1", memory: 512Mi}}}
`

const daskJob = `
apiVersion: kubernetes.dask.org/v1
kind: DaskJob
metadata: {name: dj, namespace: team-a}
spec:
  job:
    spec:
      containers: [{name: job-runner, image: ghcr.io/flyteorg/dask:1, resources: {limits: {cpu: "1", memory: 2Gi}}}]
  cluster:
    spec:
      scheduler:
        spec:
          containers: [{name: scheduler, image: ghcr.io/flyteorg/dask:1, resources: {limits: {cpu: "1", memory: 2Gi}}}]
      worker:
        replicas: 5
        spec:
          containers: [{name: worker, image: ghcr.io/flyteorg/dask:1, resources: {limits: {cpu: "2", memory: 8Gi}}}]
`

func paths(errs field.ErrorList) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func q(s string) *resource.Quantity {
	v := resource.MustParse(s)
	return &v
}

func TestPolicies(t *testing.T) {
	cases := []struct {
		name   string
		plugin plugins.Plugin
		doc    string
		policy Policy
		want   []string // field paths of the violations, in order
		detail string   // a substring of the first violation's detail
	}{
		{"registries: images outside the prefixes", ray.New(), rayJob,
			AllowedRegistries{Prefixes: []string{"ghcr.io/flyteorg"}},
			[]string{
				"spec.rayClusterSpec.workerGroupSpecs[0].template.spec.initContainers[0].image",
				"spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[1].image",
			}, `image "busybox" is not from an allowed registry`},
		{"registries: docker hub short names match docker.io/library", ray.New(), rayJob,
			AllowedRegistries{Prefixes: []string{"ghcr.io/flyteorg/", "docker.io/library"}},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[1].image"}, "docker.io/evil/miner"},
		{"registries: a prefix matches at a path boundary only", ray.New(), rayJob,
			AllowedRegistries{Prefixes: []string{"ghcr.io/flyte", "docker.io"}},
			[]string{
				"spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].image",
				"spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[0].image",
			}, "ghcr.io/flyteorg/ray:1"},
		{"registries: spark images, inherited and own", spark.New(), sparkApp,
			AllowedRegistries{Prefixes: []string{"ghcr.io/flyteorg"}},
			[]string{"spec.executor.image", "spec.executor.sidecars[0].image"}, "quay.io/other/spark:1"},
		{"registries: every dask image allowed", dask.New(), daskJob,
			AllowedRegistries{Prefixes: []string{"ghcr.io"}}, nil, ""},

		{"max per pod: init container counts alone, sidecars add up", ray.New(), rayJob,
			MaxResources{PerPod: Limits{CPU: q("5")}},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[0].template.spec"}, "one pod uses cpu 8, more than the per-pod maximum 5"},
		{"max per pod: gpu", ray.New(), rayJob,
			MaxResources{PerPod: Limits{GPU: q("1")}},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[0].template.spec"}, "gpu 2"},
		{"max per job: workers at their maximum replicas", ray.New(), rayJob,
			// head 4 cpu + 4 workers x max(8, 3.5) = 36
			MaxResources{PerJob: Limits{CPU: q("35"), Memory: q("100Gi")}},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[0].maxReplicas"}, "the job's 5 pods use cpu 36 in total, more than the per-job maximum 35"},
		{"max per job: within limits", ray.New(), rayJob,
			MaxResources{PerPod: Limits{CPU: q("8"), Memory: q("17Gi")}, PerJob: Limits{CPU: q("36"), GPU: q("8")}}, nil, ""},
		{"max per pod: spark driver from cores and memory plus overhead", spark.New(), sparkApp,
			// driver: 4g + max(384Mi, 10%) = 4505.6Mi; executor: 8g + 2g + sidecar 512Mi
			MaxResources{PerPod: Limits{Memory: q("4Gi")}},
			[]string{"spec.driver", "spec.executor"}, "one pod uses memory"},
		{"max per pod: spark executor cpu from coreLimit plus sidecar", spark.New(), sparkApp,
			MaxResources{PerPod: Limits{CPU: q("5")}},
			[]string{"spec.executor"}, "one pod uses cpu 6, more than the per-pod maximum 5"},
		{"max per job: spark executors times instances", spark.New(), sparkApp,
			// 2 + 10 x 6 = 62 cpu; 10 gpus
			MaxResources{PerJob: Limits{CPU: q("61"), GPU: q("9")}},
			[]string{"spec.executor.instances", "spec.executor.instances"}, "the job's 11 pods use cpu 62 in total"},
		{"max per job: dask workers times replicas", dask.New(), daskJob,
			MaxResources{PerJob: Limits{Memory: q("40Gi")}},
			[]string{"spec.cluster.spec.worker.replicas"}, "memory 44Gi"},

		{"required labels: missing ones named", ray.New(), rayJob,
			RequiredLabels{Labels: []string{"team", "cost-center"}},
			[]string{"metadata.labels[cost-center]"}, `label "cost-center" is required`},
		{"required labels: spark without labels", spark.New(), sparkApp,
			RequiredLabels{Labels: []string{"team"}}, []string{"metadata.labels[team]"}, ""},

		{"privileged: ray sidecar", ray.New(), rayJob, ForbidPrivileged{},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[1].securityContext.privileged"}, "privileged containers are not allowed"},
		{"privileged: spark driver", spark.New(), sparkApp, ForbidPrivileged{},
			[]string{"spec.driver.securityContext.privileged"}, ""},
		{"privileged: none in dask", dask.New(), daskJob, ForbidPrivileged{}, nil, ""},

		{"host path: ray volume", ray.New(), rayJob, ForbidHostPath{},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[0].template.spec.volumes[1].hostPath"}, `volume "host" mounts /var/run`},
		{"host path: spark volumes and spark conf", spark.New(), sparkApp, ForbidHostPath{},
			[]string{"spec.volumes[0].hostPath", "spec.sparkConf[spark.kubernetes.executor.volumes.hostPath.scratch.mount.path]"}, ""},
		{"host path: none in dask", dask.New(), daskJob, ForbidHostPath{}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, pods := decode(t, tc.plugin, tc.doc)
			errs := tc.policy.Check(obj, pods)
			if tc.want == nil {
				require.Empty(t, errs)
				return
			}
			require.Equal(t, tc.want, paths(errs), errs.ToAggregate())
			require.Contains(t, errs[0].Detail, tc.detail)
			require.Contains(t, errs[0].Detail, "policy "+tc.policy.Name())
		})
	}
}

func TestSetModesAndExemptions(t *testing.T) {
	invariant := field.ErrorList{field.Forbidden(field.NewPath("spec", "driver", "tolerations").Index(0), "driver interruptible")}
	set := NewSet([]string{"kube-system"}, Rule{Mode: Warn},
		Rule{Policy: ForbidPrivileged{}, Mode: Enforce},
		Rule{Policy: ForbidHostPath{}, Mode: Audit},
		Rule{Policy: RequiredLabels{Labels: []string{"team"}}, ExemptNamespaces: []string{"team-a"}},
	)
	obj, pods := decode(t, spark.New(), sparkApp)

	denials, warnings, audits := set.Evaluate(obj, pods, invariant)
	require.Equal(t, []string{"spec.driver.securityContext.privileged"}, paths(denials))
	require.Equal(t, []string{"invariants: spec.driver.tolerations[0]: Forbidden: driver interruptible"}, warnings)
	require.Len(t, audits, 2)
	require.Contains(t, audits[0], "forbid-host-path: spec.volumes[0].hostPath: Forbidden")

	obj.SetNamespace("team-b")
	denials, _, _ = set.Evaluate(obj, pods, nil)
	require.Equal(t, []string{"spec.driver.securityContext.privileged", "metadata.labels[team]"}, paths(denials), "team-b is not exempt from required-labels")

	obj.SetNamespace("kube-system")
	require.Empty(t, set.Findings(obj, pods, invariant), "globally exempt namespace")

	var none *Set
	obj.SetNamespace("team-a")
	denials, warnings, audits = none.Evaluate(obj, pods, invariant)
	require.Equal(t, []string{"spec.driver.tolerations[0]"}, paths(denials), "a nil set enforces the invariants")
	require.Empty(t, warnings)
	require.Empty(t, audits)
}

func TestFindingsAllocateNothingWhenClean(t *testing.T) {
	set := NewSet(nil, Rule{}, Rule{Policy: ForbidPrivileged{}}, Rule{Policy: ForbidHostPath{}},
		Rule{Policy: AllowedRegistries{Prefixes: []string{"ghcr.io"}}}, Rule{Policy: RequiredLabels{Labels: []string{"team"}}})
	obj, pods := decode(t, dask.New(), daskJob)
	obj.SetLabels(map[string]string{"team": "x"})
	require.Empty(t, set.Findings(obj, pods, nil))
	allocs := testing.AllocsPerRun(100, func() { set.Findings(obj, pods, nil) })
	require.LessOrEqual(t, allocs, 1.0, "only the shared view is allocated")
}

// TestTotalsSaturate: a job total too large for an int64 saturates instead of
// wrapping to a small number that would pass every per-job limit.
func TestTotalsSaturate(t *testing.T) {
	cases := []struct {
		name string
		got  amounts
		want int64
	}{
		{"memory times 2^31-1 replicas", amounts{memory: 8 << 40}.times(math.MaxInt32), math.MaxInt64},
		{"cpu plus cpu", func() amounts { a := amounts{cpu: math.MaxInt64 - 1}; a.add(amounts{cpu: 5}); return a }(), math.MaxInt64},
		{"negative replicas count nothing", amounts{gpu: 4}.times(-3), 0},
		{"small totals are exact", amounts{gpu: 4}.times(3), 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, max(c.got.cpu, c.got.memory, c.got.gpu))
		})
	}
	limit := resource.MustParse("1Ei")
	require.Len(t, Limits{Memory: &limit}.exceeded(amounts{memory: 8 << 40}.times(math.MaxInt32)), 1)
}
