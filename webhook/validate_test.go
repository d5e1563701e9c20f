package webhook

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A SparkApplication written by hand whose driver tolerates the spot nodes
// the configuration marks interruptible.
const interruptibleDriver = `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: by-hand, namespace: analytics, labels: {team: data}}
spec:
  type: Scala
  mode: cluster
  image: ghcr.io/flyteorg/spark:3.5
  mainClass: org.example.Main
  mainApplicationFile: local:///app.jar
  sparkVersion: "3.5.0"
  driver:
    cores: 1
    memory: 1g
    tolerations:
    - {key: lifecycle, operator: Equal, value: spot, effect: NoSchedule}
  executor:
    instances: 2
    cores: 1
    memory: 1g
`

const onDemandDriver = `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: on-demand, namespace: analytics, labels: {team: data}}
spec:
  type: Scala
  mode: cluster
  image: ghcr.io/flyteorg/spark:3.5
  mainClass: org.example.Main
  mainApplicationFile: local:///app.jar
  sparkVersion: "3.5.0"
  driver: {cores: 1, memory: 1g}
  executor: {instances: 2, cores: 1, memory: 1g}
`

const rayJobDoc = `
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: rj, namespace: analytics}
spec:
  entrypoint: python train.py
  rayClusterSpec:
    headGroupSpec:
      template:
        spec:
          containers:
          - name: ray-head
            image: ghcr.io/flyteorg/ray:2
            resources: {limits: {cpu: "2", memory: 4Gi}}
          - name: ray-logs
            image: fluent/fluent-bit:3.0
    workerGroupSpecs:
    - groupName: w
      replicas: 3
      minReplicas: 0
      maxReplicas: 3
      template:
        spec:
          containers:
          - name: ray-worker
            image: docker.io/someone/ray:2
            securityContext: {privileged: true}
            resources: {limits: {cpu: "4", memory: 8Gi, nvidia.com/gpu: "1"}}
          volumes:
          - {name: host, hostPath: {path: /var/lib}}
`

func validator(cfg *config.Config, set *policy.Set, log *logr.Logger) *Validator {
	return &Validator{Registry: registry, Config: func() *config.Config { return cfg }, Policies: func() *policy.Set { return set }, Log: log}
}

func mustPolicies(t testing.TB, doc string) *policy.Set {
	t.Helper()
	s, err := policy.Parse([]byte(doc))
	require.NoError(t, err)
	return s
}

func TestValidateInvariantModes(t *testing.T) {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	obj := parseYAML(t, interruptibleDriver)
	const field = "spec.driver.tolerations[0]"
	var logged []string
	log := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})

	t.Run("enforce denies naming the field", func(t *testing.T) {
		before := testutil.ToFloat64(denialsTotal.WithLabelValues("SparkApplication", policy.InvariantsName))
		resp := serve(t, validator(cfg, mustPolicies(t, "invariants: {mode: enforce}"), nil), review(t, admissionv1.Create, obj, nil, false))
		require.False(t, resp.Allowed)
		require.EqualValues(t, http.StatusUnprocessableEntity, resp.Result.Code)
		require.Equal(t, metav1.StatusReasonInvalid, resp.Result.Reason)
		require.Equal(t, []string{field}, causes(resp))
		require.Contains(t, resp.Result.Message, `SparkApplication.sparkoperator.k8s.io "by-hand" is invalid: spec.driver.tolerations[0]: Forbidden: the Spark driver must not tolerate interruptible nodes`)
		require.Equal(t, before+1, testutil.ToFloat64(denialsTotal.WithLabelValues("SparkApplication", policy.InvariantsName)))
	})
	t.Run("enforce is the default", func(t *testing.T) {
		resp := serve(t, validator(cfg, nil, nil), review(t, admissionv1.Create, obj, nil, false))
		require.False(t, resp.Allowed)
		require.Equal(t, []string{field}, causes(resp))
	})
	t.Run("warn admits with a warning", func(t *testing.T) {
		resp := serve(t, validator(cfg, mustPolicies(t, "invariants: {mode: warn}"), nil), review(t, admissionv1.Create, obj, nil, false))
		require.True(t, resp.Allowed)
		require.Len(t, resp.Warnings, 1)
		require.Contains(t, resp.Warnings[0], "invariants: spec.driver.tolerations[0]: Forbidden: the Spark driver must not tolerate interruptible nodes")
	})
	t.Run("audit admits silently, logs and counts", func(t *testing.T) {
		before := testutil.ToFloat64(policyAudits.WithLabelValues("SparkApplication", policy.InvariantsName))
		resp := serve(t, validator(cfg, mustPolicies(t, "invariants: {mode: audit}"), &log), review(t, admissionv1.Create, obj, nil, false))
		require.True(t, resp.Allowed)
		require.Empty(t, resp.Warnings)
		require.Equal(t, before+1, testutil.ToFloat64(policyAudits.WithLabelValues("SparkApplication", policy.InvariantsName)))
		require.Len(t, logged, 1)
		require.Contains(t, logged[0], `"policy"="invariants"`)
		require.Contains(t, logged[0], "spec.driver.tolerations[0]")
	})
	t.Run("exempt namespace", func(t *testing.T) {
		resp := serve(t, validator(cfg, mustPolicies(t, "invariants: {exempt-namespaces: [analytics]}"), nil), review(t, admissionv1.Create, obj, nil, false))
		require.True(t, resp.Allowed)
		require.Empty(t, resp.Warnings)
	})
	t.Run("without interruptible tolerations configured the driver is fine", func(t *testing.T) {
		resp := serve(t, validator(loadConfig(t, ""), nil, nil), review(t, admissionv1.Create, obj, nil, false))
		require.True(t, resp.Allowed)
	})
	t.Run("DELETE is admitted", func(t *testing.T) {
		resp := serve(t, validator(cfg, nil, nil), review(t, admissionv1.Delete, nil, obj, false))
		require.True(t, resp.Allowed)
	})
	t.Run("dryRun is answered the same", func(t *testing.T) {
		resp := serve(t, validator(cfg, nil, nil), review(t, admissionv1.Create, obj, nil, true))
		require.False(t, resp.Allowed)
		require.Equal(t, []string{field}, causes(resp))
	})
}

func TestValidatePolicies(t *testing.T) {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	ray := parseYAML(t, rayJobDoc)
	worker := "spec.rayClusterSpec.workerGroupSpecs[0].template.spec"
	cases := []struct {
		name     string
		policies string
		obj      map[string]any
		denied   []string
		warnings int
	}{
		{"allowed registries", "allowed-registries: {registries: [ghcr.io/flyteorg, docker.io/fluent]}", ray,
			[]string{worker + ".containers[0].image"}, 0},
		{"max resources per pod", "max-resources: {per-pod: {cpu: 3}}", ray, []string{worker}, 0},
		{"max resources per job", "max-resources: {per-job: {memory: 20Gi, gpu: 2}}", ray,
			[]string{"spec.rayClusterSpec.workerGroupSpecs[0].maxReplicas", "spec.rayClusterSpec.workerGroupSpecs[0].maxReplicas"}, 0},
		{"required labels", "required-labels: {labels: [team, cost-center]}", ray,
			[]string{"metadata.labels[team]", "metadata.labels[cost-center]"}, 0},
		{"forbid privileged", "forbid-privileged: {}", ray, []string{worker + ".containers[0].securityContext.privileged"}, 0},
		{"forbid host path", "forbid-host-path: {}", ray, []string{worker + ".volumes[0].hostPath"}, 0},
		{"every policy at once, some in warn mode", `
allowed-registries: {mode: warn, registries: [ghcr.io]}
forbid-privileged: {}
forbid-host-path: {mode: warn}
`, ray, []string{worker + ".containers[0].securityContext.privileged"}, 3},
		{"policy exempt namespace", "forbid-privileged: {exempt-namespaces: [analytics]}", ray, nil, 0},
		{"globally exempt namespace", "{exempt-namespaces: [analytics], forbid-privileged: {}}", ray, nil, 0},
		{"clean object", "forbid-privileged: {}\nrequired-labels: {labels: [team]}", parseYAML(t, onDemandDriver), nil, 0},
		{"ray logs sidecar invariant (configured sidecar missing)", "", withoutSidecar(t, ray),
			[]string{"spec.rayClusterSpec.headGroupSpec.template.spec.containers"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := serve(t, validator(cfg, mustPolicies(t, tc.policies), nil), review(t, admissionv1.Create, tc.obj, nil, false))
			require.Len(t, resp.Warnings, tc.warnings, resp.Warnings)
			if tc.denied == nil {
				require.True(t, resp.Allowed, "%+v", resp.Result)
				return
			}
			require.False(t, resp.Allowed)
			require.EqualValues(t, http.StatusUnprocessableEntity, resp.Result.Code)
			require.Equal(t, tc.denied, causes(resp))
		})
	}
}

func withoutSidecar(t testing.TB, obj map[string]any) map[string]any {
	out := deepCopy(t, obj)
	spec := out["spec"].(map[string]any)["rayClusterSpec"].(map[string]any)["headGroupSpec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	spec["containers"] = spec["containers"].([]any)[:1]
	return out
}

// TestValidateUpdate: an UPDATE is refused only for violations it adds.
func TestValidateUpdate(t *testing.T) {
	cfg := loadConfig(t, "")
	set := mustPolicies(t, "required-labels: {labels: [team]}\nforbid-privileged: {}")
	old := parseYAML(t, rayJobDoc) // privileged, no team label: admitted before the policies existed
	v := validator(cfg, set, nil)

	annotated := deepCopy(t, old)
	annotated["metadata"].(map[string]any)["annotations"] = map[string]any{"flyte.org/phase": "Running"}
	resp := serve(t, v, review(t, admissionv1.Update, annotated, old, false))
	require.True(t, resp.Allowed, "the watcher's phase annotation on an old object goes through")
	require.Len(t, resp.Warnings, 2)
	require.Contains(t, resp.Warnings[0], "already violated before this update")

	worse := deepCopy(t, annotated)
	head := worse["spec"].(map[string]any)["rayClusterSpec"].(map[string]any)["headGroupSpec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	head["containers"].([]any)[0].(map[string]any)["securityContext"] = map[string]any{"privileged": true}
	resp = serve(t, v, review(t, admissionv1.Update, worse, old, false))
	require.False(t, resp.Allowed)
	require.Equal(t, []string{"spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].securityContext.privileged"}, causes(resp))

	deleting := deepCopy(t, worse)
	deleting["metadata"].(map[string]any)["deletionTimestamp"] = "2026-05-01T12:00:00Z"
	resp = serve(t, v, review(t, admissionv1.Update, deleting, old, false))
	require.True(t, resp.Allowed, "finishing a deletion is never refused")
}

func TestValidateUndecodable(t *testing.T) {
	obj := parseYAML(t, onDemandDriver)
	obj["spec"].(map[string]any)["driver"] = "not an object"
	resp := serve(t, validator(loadConfig(t, ""), nil, nil), review(t, admissionv1.Create, obj, nil, false))
	require.False(t, resp.Allowed)
	require.EqualValues(t, http.StatusBadRequest, resp.Result.Code)
}

// TestExpandedExamplesPassValidation: what the mutating webhook stores passes
// the validating webhook (invariants enforced, with the examples' config).
func TestExpandedExamplesPassValidation(t *testing.T) {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	files, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	v := validator(cfg, mustPolicies(t, "forbid-privileged: {}\nforbid-host-path: {}"), nil)
	for _, file := range files {
		for _, o := range readObjects(t, file) {
			if _, ok := resources[o.Map["kind"].(string)]; !ok {
				continue
			}
			t.Run(filepath.Base(file), func(t *testing.T) {
				resp := serve(t, v, review(t, admissionv1.Create, mustExpand(t, cfg, o.Map), nil, false))
				require.True(t, resp.Allowed, "%+v", resp.Result)
				require.Empty(t, resp.Warnings)
			})
		}
	}
}
