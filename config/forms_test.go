package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// TestHelmChartPlugins loads the plugins: sections of Flyte 1.16.8's own Helm
// charts' values, verbatim (testdata/helm; each file says where it came from).
func TestHelmChartPlugins(t *testing.T) {
	gpuToleration := []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: "Equal", Value: "present", Effect: "NoSchedule"}}
	checks := map[string]func(t *testing.T, c *Config){
		"flyte-binary-eks-production.yaml": func(t *testing.T, c *Config) {
			require.True(t, c.Plugins.K8s.InjectFinalizer)
			require.Equal(t, StringMap{"AWS_METADATA_SERVICE_TIMEOUT": "5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "20"}, c.Plugins.K8s.DefaultEnvVars)
		},
		"flyte-binary-eks-starter.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, "20", c.Plugins.K8s.DefaultEnvVars["AWS_METADATA_SERVICE_NUM_ATTEMPTS"])
		},
		"flyte-binary-gke-starter.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, map[string][]corev1.Toleration{"nvidia.com/gpu": gpuToleration}, c.Plugins.K8s.ResourceTolerations)
			require.Equal(t, "cloud.google.com/gke-accelerator", c.Plugins.K8s.GpuDeviceNodeLabel)
			require.Equal(t, "cloud.google.com/gke-gpu-partition-size", c.Plugins.K8s.GpuPartitionSizeNodeLabel)
		},
		"flyte-core-values-connector.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, Default().Generation, c.Generation, "an ignored plugin section changes nothing")
		},
		"flyte-core-values-copilot.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, "cr.flyte.org/flyteorg/flytecopilot:v1.16.8", c.Plugins.K8s.CoPilot["image"])
		},
		"flyte-core-values-databricks.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, Default().Generation, c.Generation, "an ignored plugin section changes nothing")
		},
		"flyte-core-values-eks-task_logs.yaml": func(t *testing.T, c *Config) {
			require.True(t, c.Plugins.Logs.IsCloudwatchEnabled)
			require.Equal(t, "{{ .Values.userSettings.logGroup }}", c.Plugins.Logs.CloudwatchLogGroup)
		},
		"flyte-core-values-gcp-task_logs.yaml": func(t *testing.T, c *Config) {
			require.True(t, c.Plugins.Logs.IsStackDriverEnabled)
			require.Equal(t, "k8s_container", c.Plugins.Logs.StackdriverLogResourceName)
		},
		"flyte-core-values-k8s.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{}, c.Plugins.K8s.DefaultEnvVars)
			require.Equal(t, "100m", c.Plugins.K8s.DefaultCPURequest.String())
			require.Equal(t, "100Mi", c.Plugins.K8s.DefaultMemoryRequest.String())
		},
		"flyte-core-values-keycloak-k8s.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, "100m", c.Plugins.K8s.DefaultCPURequest.String())
		},
		"flyte-core-values-keycloak-spark.yaml": func(t *testing.T, c *Config) {
			require.Len(t, c.Plugins.Spark.DefaultSparkConfig, 14)
		},
		"flyte-core-values-sandbox-k8s.yaml": func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{
				"FLYTE_AWS_ENDPOINT":          "http://minio.flyte.svc.cluster.local:9000",
				"FLYTE_AWS_ACCESS_KEY_ID":     "minio",
				"FLYTE_AWS_SECRET_ACCESS_KEY": "miniostorage",
			}, c.Plugins.K8s.DefaultEnvVars)
		},
		"flyte-core-values-sandbox-task_logs.yaml": func(t *testing.T, c *Config) {
			require.True(t, c.Plugins.Logs.IsKubernetesEnabled)
			require.Contains(t, c.Plugins.Logs.KubernetesTemplateURI, "http://localhost:30082/#/log/")
		},
		"flyte-core-values-spark.yaml": func(t *testing.T, c *Config) {
			require.Len(t, c.Plugins.Spark.DefaultSparkConfig, 14)
			require.Equal(t, "org.apache.hadoop.fs.s3a.S3A", c.Plugins.Spark.DefaultSparkConfig["spark.hadoop.fs.AbstractFileSystem.s3a.impl"])
			require.Equal(t, "true", c.Plugins.Spark.DefaultSparkConfig["spark.blacklist.enabled"])
		},
		"flyte-core-values-task_logs.yaml": func(t *testing.T, c *Config) {
			require.False(t, c.Plugins.Logs.IsKubernetesEnabled)
			require.False(t, c.Plugins.Logs.IsCloudwatchEnabled)
		},
	}
	files, err := filepath.Glob("testdata/helm/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(checks), "every excerpt has its check")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			check, ok := checks[filepath.Base(file)]
			require.True(t, ok, "no check for %s", file)
			c, err := Load(file)
			require.NoError(t, err)
			check(t, c)
		})
	}
}

// TestFlytekitSampleConfigs loads the platform configurations of the flytekit
// conformance sample, written as Flyte's Helm chart writes them.
func TestFlytekitSampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../cmd/flyte-admission/testdata/conformance-flytekit/*/*/config.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			c, err := Load(file)
			require.NoError(t, err)
			require.Equal(t, "http://minio.flyte.svc.cluster.local:9000", c.Plugins.K8s.DefaultEnvVars["FLYTE_AWS_ENDPOINT"])
		})
	}
	c, err := Load("../cmd/flyte-admission/testdata/conformance-flytekit/spark/gpu_spark-gpu-platform/config.yaml")
	require.NoError(t, err)
	require.Equal(t, map[string][]corev1.Toleration{"nvidia.com/gpu": {{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"}}}, c.Plugins.K8s.ResourceTolerations)
}

// TestMapForms: every map-valued key takes a map or a list of maps, at any
// depth, and nothing else; scalars convert as Flyte's loader converts them.
func TestMapForms(t *testing.T) {
	tol := []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"}}
	cases := []struct {
		name, yaml, err string
		check           func(t *testing.T, c *Config)
	}{
		{name: "resource-tolerations as a map", yaml: "plugins:\n  k8s:\n    resource-tolerations:\n      nvidia.com/gpu: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, map[string][]corev1.Toleration{"nvidia.com/gpu": tol}, c.Plugins.K8s.ResourceTolerations)
		}},
		{name: "resource-tolerations as a list of single-entry maps", yaml: "plugins:\n  k8s:\n    resource-tolerations:\n    - nvidia.com/gpu:\n      - key: nvidia.com/gpu\n        operator: Exists\n        effect: NoSchedule\n    - example.com/fpga: []\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, map[string][]corev1.Toleration{"nvidia.com/gpu": tol, "example.com/fpga": {}}, c.Plugins.K8s.ResourceTolerations)
		}},
		{name: "list entries merge in order, later wins", yaml: "plugins:\n  k8s:\n    default-labels:\n    - {a: '1', b: '2'}\n    - {a: '3'}\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{"a": "3", "b": "2"}, c.Plugins.K8s.DefaultLabels)
		}},
		{name: "an empty list is an empty map", yaml: "plugins:\n  k8s:\n    default-annotations: []\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{}, c.Plugins.K8s.DefaultAnnotations)
		}},
		{name: "spark feature config as a list", yaml: "plugins:\n  spark:\n    features:\n    - name: f\n      spark-config:\n      - spark.a.b: x\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{"spark.a.b": "x"}, c.Plugins.Spark.Features[0].SparkConfig)
		}},
		{name: "ray start parameters as a list", yaml: "plugins:\n  ray:\n    defaults:\n      headNode:\n        startParameters:\n        - num-cpus: 0\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{"num-cpus": "0"}, c.Plugins.Ray.Defaults.HeadNode.StartParameters)
		}},
		{name: "dynamic log links as a list", yaml: "plugins:\n  logs:\n    dynamic-log-links:\n    - vscode: {displayName: VS Code, templateUris: ['http://x/{{ .podName }}']}\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, "VS Code", c.Plugins.Logs.DynamicLogLinks["vscode"].DisplayName)
		}},
		{name: "a map inside a Kubernetes type as a list", yaml: "plugins:\n  k8s:\n    default-affinity:\n      podAntiAffinity:\n        requiredDuringSchedulingIgnoredDuringExecution:\n        - topologyKey: zone\n          labelSelector:\n            matchLabels:\n            - app.kubernetes.io/name: x\n", check: func(t *testing.T, c *Config) {
			term := c.Plugins.K8s.DefaultAffinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
			require.Equal(t, map[string]string{"app.kubernetes.io/name": "x"}, term.LabelSelector.MatchLabels)
		}},
		{name: "numbers and bools in a string map convert as mapstructure converts them", yaml: "plugins:\n  k8s:\n    default-env-vars:\n    - A: 5\n    - B: 1.5\n    - C: true\n    - D: false\n    - E: 1e21\n    - F:\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{"A": "5", "B": "1.5", "C": "1", "D": "0", "E": "1000000000000000000000", "F": ""}, c.Plugins.K8s.DefaultEnvVars)
		}},
		{name: "YAML 1.2 scalars: yes and on stay strings", yaml: "plugins:\n  k8s:\n    default-labels: {a: yes, b: on}\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, StringMap{"a": "yes", "b": "on"}, c.Plugins.K8s.DefaultLabels)
		}},
		{name: "weak bool and int", yaml: "plugins:\n  k8s:\n    inject-finalizer: 'true'\n    update-backoff-retries: '7'\n", check: func(t *testing.T, c *Config) {
			require.True(t, c.Plugins.K8s.InjectFinalizer)
			require.Equal(t, 7, c.Plugins.K8s.UpdateBackoffRetries)
		}},
		{name: "a comma-separated string is a list", yaml: "plugins:\n  k8s:\n    default-env-from-configmaps: a,b\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, []string{"a", "b"}, c.Plugins.K8s.DefaultEnvFromConfigMaps)
		}},
		{name: "keys match in any case, as viper lowercases them", yaml: "plugins:\n  K8s:\n    Scheduler-Name: s\n  ray:\n    shutdownafterjobfinishes: false\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, "s", c.Plugins.K8s.SchedulerName)
			require.False(t, c.Plugins.Ray.ShutdownAfterJobFinishes)
		}},
		{name: "Flyte's other plugin sections are dropped", yaml: "plugins:\n  k8s-array: {logs: {config: {stackdriver-enabled: true}}}\n  connector-service: {defaultConnector: {endpoint: x}}\n  Databricks: {entrypointFile: y}\n", check: func(t *testing.T, c *Config) {
			require.Equal(t, Default().Generation, c.Generation)
		}},
		{name: "a scalar in a list of maps is refused", yaml: "plugins:\n  k8s:\n    resource-tolerations:\n    - nvidia.com/gpu: []\n    - oops\n", err: "plugins.k8s.resource-tolerations[1]: expected a map"},
		{name: "a scalar for a map is refused", yaml: "plugins:\n  k8s:\n    default-labels: x\n", err: "plugins.k8s.default-labels: expected a map or a list of single-entry maps"},
		{name: "a map for a string value is refused", yaml: "plugins:\n  k8s:\n    default-labels: [{a: {b: c}}]\n", err: "plugins.k8s.default-labels.a: expected a string, got a map"},
		{name: "a list for a toleration is refused", yaml: "plugins:\n  k8s:\n    resource-tolerations: {gpu: [[a]]}\n", err: "plugins.k8s.resource-tolerations.gpu[0]: expected a map, got a list"},
		{name: "unknown key in a listed toleration", yaml: "plugins:\n  k8s:\n    resource-tolerations:\n    - gpu: [{key: a, efect: NoSchedule}]\n", err: `unknown key "plugins.k8s.resource-tolerations.gpu[0].efect"`},
		{name: "a bad bool is refused", yaml: "plugins:\n  k8s:\n    inject-finalizer: maybe\n", err: "plugins.k8s.inject-finalizer: expected a bool"},
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

// TestExampleConfigLoads keeps the shipped example configuration loadable.
func TestExampleConfigLoads(t *testing.T) {
	data, err := os.ReadFile("../examples/config/plugins.yaml")
	require.NoError(t, err)
	_, err = Parse(data)
	require.NoError(t, err)
}
