// Package operators runs the operators' own code on every expansion of the
// examples and conformance inputs: KubeRay's validation and builders
// in-process (importable), spark-operator's webhook, pod mutation and
// spark-submit argument builder by a test built inside a temporary copy of
// its module (they are internal packages). The bar: 0 refused, 0 misrun.
package operators

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins/ray"
	"github.com/flyte-admission/flyte-admission/plugins/spark"
	"github.com/flyte-admission/flyte-admission/test/expansions"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	kuberaycommon "github.com/ray-project/kuberay/ray-operator/controllers/ray/common"
	kuberay "github.com/ray-project/kuberay/ray-operator/controllers/ray/utils"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

const root = "../.."

func casesOf[T any](t *testing.T) (map[string]T, int) {
	t.Helper()
	all, err := expansions.All(root)
	require.NoError(t, err)
	out := map[string]T{}
	refused := 0
	for i, c := range all {
		obj, ok := any(c.Object).(T)
		if c.Err != nil {
			if _, kind := any(c.Plugin.NewObject()).(T); kind {
				refused++
			}
			continue
		}
		if ok {
			out[fmt.Sprintf("%s#%d", c.Name, i)] = obj
		}
	}
	return out, refused
}

func command(c *corev1.Container) string {
	return strings.Join(append(append([]string(nil), c.Command...), c.Args...), " ")
}

// TestKubeRay: every RayJob expansion passes KubeRay's validation, its
// submitter gets `ray job submit` (no command of its own) with the head
// image, the job command carries the entrypoint, and `ray start` goes into
// the Ray containers of the head and worker pods.
func TestKubeRay(t *testing.T) {
	jobs, refusedAtAdmission := casesOf[*rayv1.RayJob](t)
	require.GreaterOrEqual(t, len(jobs), 7, "RayJob expansions")
	ctx := context.Background()
	refused, misrun := 0, 0
	for name, rj := range jobs {
		t.Run(name, func(t *testing.T) {
			ok := true
			check := func(cond bool, format string, args ...any) {
				if !cond {
					ok = false
					t.Errorf(format, args...)
				}
			}
			if err := kuberay.ValidateRayJobMetadata(rj.ObjectMeta); err != nil {
				refused++
				t.Fatalf("REFUSED by KubeRay's webhook: %v", err)
			}
			if err := kuberay.ValidateRayJobSpec(rj); err != nil {
				refused++
				t.Fatalf("REFUSED by KubeRay's controller: %v", err)
			}
			cs := rj.Spec.RayClusterSpec
			head := cs.HeadGroupSpec.Template.Spec.Containers[kuberay.RayContainerIndex]

			// GetSubmitterTemplate + configureSubmitterContainer
			// (rayjob_controller.go): KubeRay writes `ray job submit` only
			// into a submitter container without a command.
			sub := kuberaycommon.GetSubmitterTemplate(&rj.Spec, cs)
			sc := sub.Spec.Containers[kuberay.RayContainerIndex]
			check(len(sc.Command) == 0, "MISRUN: the submitter keeps its command %q, so KubeRay does not run `ray job submit`", sc.Command)
			check(sc.Image == head.Image, "MISRUN: submitter image %q, head image %q", sc.Image, head.Image)
			check(strings.TrimSpace(rj.Spec.Entrypoint) != "", "MISRUN: empty entrypoint")
			job, err := kuberaycommon.BuildJobSubmitCommand(rj, rayv1.K8sJobMode)
			require.NoError(t, err)
			line := strings.Join(job, " ")
			check(strings.Contains(line, "ray job submit") && strings.Contains(line, "-- "+strings.TrimSpace(rj.Spec.Entrypoint)+" ;"),
				"MISRUN: the job command does not submit the entrypoint: %s", line)

			cluster := rayv1.RayCluster{Spec: *cs}
			cluster.Name, cluster.Namespace = rj.Name, rj.Namespace
			autoscaling := kuberay.IsAutoscalingEnabled(cs)
			hp := kuberaycommon.DefaultHeadPodTemplate(ctx, cluster, cs.HeadGroupSpec, rj.Name+"-head", "6379")
			pod := kuberaycommon.BuildPod(ctx, hp, rayv1.HeadNode, cs.HeadGroupSpec.RayStartParams, "6379", autoscaling, kuberay.RayJobCRD, "", nil, cs.RayVersion)
			c0 := pod.Spec.Containers[kuberay.RayContainerIndex]
			check(c0.Name == ray.HeadContainer && strings.Contains(command(&c0), "ray start --head"),
				"MISRUN: KubeRay starts Ray in head container %q: %s", c0.Name, command(&c0))
			for i, g := range cs.WorkerGroupSpecs {
				wp := kuberaycommon.DefaultWorkerPodTemplate(ctx, cluster, g, rj.Name+"-w", "head-svc."+rj.Namespace+".svc", "6379", g.GroupName, 0, 0)
				pod := kuberaycommon.BuildPod(ctx, wp, rayv1.WorkerNode, g.RayStartParams, "6379", autoscaling, kuberay.RayJobCRD, "head-svc."+rj.Namespace+".svc", nil, cs.RayVersion)
				c0 := pod.Spec.Containers[kuberay.RayContainerIndex]
				check(c0.Name == ray.WorkerContainer && strings.Contains(command(&c0), "ray start"),
					"MISRUN: KubeRay starts Ray in worker group %d container %q: %s", i, c0.Name, command(&c0))
			}
			if !ok {
				misrun++
			}
		})
	}
	t.Logf("KubeRay 1.6.2 on %d RayJob expansions: %d refused, %d misrun (%d inputs refused at admission)", len(jobs), refused, misrun, refusedAtAdmission)
	require.Zero(t, refused+misrun)
}

// TestSparkOperator writes every SparkApplication expansion to a directory
// and runs spark-operator's own code on them inside a temporary copy of its
// module (testdata/sparkoperator: its webhook's defaulter, validator and pod
// mutation; its spark-submit argument builder). It is skipped only when the
// module cannot be found.
func TestSparkOperator(t *testing.T) {
	apps, refusedAtAdmission := casesOf[*sparkv1beta2.SparkApplication](t)
	require.GreaterOrEqual(t, len(apps), 6, "SparkApplication expansions")
	all, err := expansions.All(root)
	require.NoError(t, err)

	cases := t.TempDir()
	names := make([]string, 0, len(apps))
	for n := range apps {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		var cfg = all[0].Config
		for _, c := range all {
			if strings.HasPrefix(n, c.Name+"#") {
				cfg = c.Config
			}
		}
		k := &cfg.Plugins.K8s
		data, err := json.Marshal(map[string]any{
			"name": n, "app": apps[n],
			"interruptibleTolerations":             k.InterruptibleTolerations,
			"interruptibleNodeSelector":            k.InterruptibleNodeSelector,
			"interruptibleNodeSelectorRequirement": k.InterruptibleNodeSelectorRequirement,
		})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(cases, fmt.Sprintf("case-%02d.json", i)), data, 0o644))
	}
	managed := make([]string, 0, len(spark.OperatorManagedConf))
	for k := range spark.OperatorManagedConf {
		managed = append(managed, k)
	}
	data, err := json.Marshal(managed)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(cases, "managed-conf.json"), data, 0o644))

	mod := sparkOperatorModule(t)
	out := runInModule(t, mod, cases)
	webhook := regexp.MustCompile(`FLYTE-ADMISSION webhook checked=(\d+) interruptible-executors=(\d+)`).FindStringSubmatch(out)
	submit := regexp.MustCompile(`FLYTE-ADMISSION spark-submit checked=(\d+)`).FindStringSubmatch(out)
	require.NotNil(t, webhook, out)
	require.NotNil(t, submit, out)
	require.Equal(t, strconv.Itoa(len(apps)), webhook[1], "applications through the webhook code")
	require.Equal(t, strconv.Itoa(len(apps)), submit[1], "applications through the spark-submit builder")
	require.NotEqual(t, "0", webhook[2], "the interruptible check sees interruptible executors, so it would see a driver")
	t.Logf("spark-operator v2.5.2 on %d SparkApplication expansions: 0 refused, 0 misrun; %d with interruptible executors and on-demand drivers (%d inputs refused at admission)",
		len(apps), mustAtoi(t, webhook[2]), refusedAtAdmission)
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// sparkOperatorModule copies the spark-operator module this project
// requires (from the module cache, downloading it if need be) into a
// temporary directory, without its own tests in the two packages we test,
// and with ours.
func sparkOperatorModule(t *testing.T) string {
	t.Helper()
	const path = "github.com/kubeflow/spark-operator/v2"
	dir := ""
	if b, err := goCmd(root, "list", "-m", "-f", "{{.Dir}}", path).Output(); err == nil {
		dir = strings.TrimSpace(string(b))
	}
	if dir == "" {
		b, err := goCmd(root, "mod", "download", "-json", path).Output()
		var m struct{ Dir string }
		if err != nil || json.Unmarshal(b, &m) != nil || m.Dir == "" {
			t.Skipf("SKIPPED: the spark-operator module %s cannot be found in the module cache or downloaded (%v); its checks did not run", path, err)
		}
		dir = m.Dir
	}
	dst := filepath.Join(t.TempDir(), "spark-operator")
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		tested := filepath.Dir(rel) == filepath.Join("internal", "webhook") || filepath.Dir(rel) == filepath.Join("internal", "controller", "sparkapplication")
		if tested && strings.HasSuffix(rel, "_test.go") {
			return nil // the operator's own suites need envtest and ginkgo; ours replace them
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	}))
	for src, to := range map[string]string{
		"webhook_flyteadmission_test.go":          "internal/webhook",
		"sparkapplication_flyteadmission_test.go": "internal/controller/sparkapplication",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", "sparkoperator", src))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, to, src), data, 0o644))
	}
	return dst
}

func runInModule(t *testing.T, mod, cases string) string {
	t.Helper()
	cmd := goCmd(mod, "test", "-trimpath", "-count=1", "-v", "-run", "TestFlyteAdmission", "./internal/webhook", "./internal/controller/sparkapplication")
	cmd.Env = append(cmd.Env, "FLYTE_ADMISSION_CASES="+cases,
		// masterOption reads the apiserver address as a pod would.
		"KUBERNETES_SERVICE_HOST=10.0.0.1", "KUBERNETES_SERVICE_PORT=443")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "spark-operator's code refused or misran an expansion:\n%s", out)
	return string(out)
}

func goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	return cmd
}
