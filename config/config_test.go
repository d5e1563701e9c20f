package config

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, yaml, err string
		check           func(t *testing.T, c *Config)
	}{
		{name: "empty file gives Flyte's defaults", yaml: "", check: func(t *testing.T, c *Config) {
			require.Equal(t, "1", c.Plugins.K8s.DefaultCPURequest.String())
			require.Equal(t, "1Gi", c.Plugins.K8s.DefaultMemoryRequest.String())
			require.Equal(t, StringMap{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}, c.Plugins.K8s.DefaultAnnotations)
			require.True(t, c.Plugins.Ray.ShutdownAfterJobFinishes)
			require.Equal(t, int32(3600), c.Plugins.Ray.TTLSecondsAfterFinished)
			require.True(t, c.Plugins.Dask.Logs.IsKubernetesEnabled)
		}},
		{name: "list of single-entry maps", yaml: "plugins:\n  k8s:\n    default-env-vars:\n    - AWS_REGION: us-east-1\n    - X.Y: '1'\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{"AWS_REGION": "us-east-1", "X.Y": "1"}, c.Plugins.K8s.DefaultEnvVars)
		}},
		{name: "a set map replaces the default", yaml: "plugins:\n  k8s:\n    default-annotations: {a: b}\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{"a": "b"}, c.Plugins.K8s.DefaultAnnotations)
		}},
		{name: "nodeIPAddress fills both defaults", yaml: "plugins:\n  ray:\n    nodeIPAddress: $IP\n    defaults: {headNode: {ipAddress: ''}, workerNode: {ipAddress: ''}}\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, "$IP", c.Plugins.Ray.Defaults.HeadNode.IPAddress)
			require.Equal(t, "$IP", c.Plugins.Ray.Defaults.WorkerNode.IPAddress)
		}},
		{name: "unknown key is named by path", yaml: "plugins:\n  k8s:\n    default-cpu: 2\n", err: `unknown key "plugins.k8s.default-cpu"`},
		{name: "unknown nested key in a toleration", yaml: "plugins:\n  k8s:\n    default-tolerations: [{key: a, efect: NoSchedule}]\n", err: `plugins.k8s.default-tolerations[0].efect`},
		{name: "unknown plugin", yaml: "plugins:\n  hive: {}\n", err: `unknown key "plugins.hive"`},
		{name: "bad quantity", yaml: "plugins:\n  k8s:\n    default-cpus: lots\n", err: "quantities must match"},
		{name: "not YAML", yaml: "plugins: [", err: "parse YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.yaml))
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			c.check(t, cfg)
		})
	}
}

func TestGenerationFollowsContent(t *testing.T) {
	a, err := Parse([]byte("plugins: {k8s: {scheduler-name: a}}"))
	require.NoError(t, err)
	b, err := Parse([]byte("plugins: {k8s: {scheduler-name: b}}"))
	require.NoError(t, err)
	a2, err := Parse([]byte("plugins:\n  k8s:\n    scheduler-name: a\n"))
	require.NoError(t, err)
	require.NotEqual(t, a.Generation, b.Generation)
	require.Equal(t, a.Generation, a2.Generation)
}

// TestQuantitiesCached: the quantities every pod gets a copy of carry their
// canonical text, so that encoding a copy computes nothing.
func TestQuantitiesCached(t *testing.T) {
	c, err := Parse([]byte("platform-resources:\n  requests: {memory: 2048Mi}\n  limits: {cpu: 1500m}\n"))
	require.NoError(t, err)
	k := c.Plugins.K8s
	for _, q := range []resource.Quantity{k.DefaultCPURequest, k.DefaultMemoryRequest,
		c.PlatformResources.Requests[corev1.ResourceMemory], c.PlatformResources.Limits[corev1.ResourceCPU]} {
		require.Zero(t, testing.AllocsPerRun(10, func() {
			cp := q
			_ = cp.String()
		}), q.String())
	}
	require.Equal(t, "1Gi", k.DefaultMemoryRequest.String())
	require.Equal(t, "2Gi", c.PlatformResources.Requests.Memory().String())
}
