package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/flyte-admission/flyte-admission/test/watchtest"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestStatus lists jobs on the real apiserver, with the phase computed from
// their live status (no watcher runs), and skips a kind whose CRD is gone.
func TestStatus(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	ctx := context.Background()
	cfg := watchtest.PluginConfig(t)
	const ns = "status"
	watchtest.Namespace(t, c, ns)
	watchtest.Namespace(t, c, "other")

	spark := watchtest.Expanded(t, cfg, "spark-pi.yaml", ns, "spark-pi")
	require.NoError(t, c.Create(ctx, spark))
	require.NoError(t, watchtest.PatchStatus(ctx, c, spark, map[string]any{
		"applicationState": map[string]any{"state": "FAILED", "errorMessage": "driver\nOOMKilled"},
		"driverInfo":       map[string]any{"podName": "spark-pi-driver"},
	}))
	ray := watchtest.Expanded(t, cfg, "ray-train.yaml", ns, "ray-train")
	require.NoError(t, c.Create(ctx, ray))
	other := watchtest.Expanded(t, cfg, "ray-train.yaml", "other", "ray-other")
	other.SetAnnotations(mergeAnn(other.GetAnnotations(), map[string]string{watch.PhaseAnnotation: "Queued"}))
	require.NoError(t, c.Create(ctx, other))
	require.NoError(t, watchtest.PatchStatus(ctx, c, other, map[string]any{"jobDeploymentStatus": "Running"}))

	// No DaskJob CRD: DaskJobs are skipped silently.
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "daskjobs.kubernetes.dask.org"}, crd))
	require.NoError(t, c.Delete(ctx, crd))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{}))
	}, time.Minute, 50*time.Millisecond)

	kube := []string{"--kubeconfig", env.Kubeconfig, "--config", "../../examples/config/plugins.yaml"}

	t.Run("table of one namespace", func(t *testing.T) {
		out, errOut, code := run(t, append([]string{"status", "-n", ns}, kube...)...)
		require.Zero(t, code, errOut)
		require.Empty(t, errOut, "the missing DaskJob CRD is skipped silently")
		t.Log("\n" + out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 3, out)
		require.Equal(t, []string{"KIND", "NAMESPACE", "NAME", "PHASE", "REASON", "AGE", "LOG"}, strings.Fields(lines[0]))
		spark := strings.Fields(lines[1])
		require.Equal(t, []string{"SparkApplication", ns, "spark-pi", "RetryableFailure"}, spark[:4], lines[1])
		require.Contains(t, lines[1], "Spark Job Failed with Error: driver OOMKilled")
		require.Equal(t, "http://localhost:30082/#!/log/status/spark-pi-driver/pod?namespace=status", spark[len(spark)-1])
		require.Equal(t, []string{"RayJob", ns, "ray-train", "Queued", "Scheduling"}, strings.Fields(lines[2])[:5], lines[2])
	})

	t.Run("json of all namespaces", func(t *testing.T) {
		out, errOut, code := run(t, append([]string{"status", "-A", "-o", "json"}, kube...)...)
		require.Zero(t, code, errOut)
		var rows []jobStatus
		require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
		require.Len(t, rows, 3, out)
		byName := map[string]jobStatus{}
		for _, r := range rows {
			byName[r.Name] = r
		}
		require.Equal(t, "RetryableFailure", byName["spark-pi"].Phase)
		require.Equal(t, "DownstreamSystemError", byName["spark-pi"].Code)
		require.Empty(t, byName["spark-pi"].Reported, "no watcher ran")
		// The live status wins over a stale annotation.
		require.Equal(t, "Running", byName["ray-other"].Phase)
		require.Equal(t, "Queued", byName["ray-other"].Reported)
		require.Equal(t, "other", byName["ray-other"].Namespace)
		require.Equal(t, []string{"SparkApplication", "RayJob", "RayJob"}, []string{rows[0].Kind, rows[1].Kind, rows[2].Kind})
	})

	t.Run("empty namespace", func(t *testing.T) {
		out, errOut, code := run(t, append([]string{"status", "-n", "nothing-here"}, kube...)...)
		require.Zero(t, code, errOut)
		require.Empty(t, out)
		require.Contains(t, errOut, "No resources found in nothing-here namespace.")
	})

	t.Run("-n and -A are exclusive", func(t *testing.T) {
		_, errOut, code := run(t, append([]string{"status", "-n", ns, "-A"}, kube...)...)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "exclusive")
	})
}

func mergeAnn(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
