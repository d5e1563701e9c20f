// Package config loads the plugin configuration: one YAML file whose plugins:
// section uses flytepropeller's keys (plugins.k8s, plugins.spark, plugins.ray,
// plugins.dask, plugins.logs), so a Flyte operator can reuse the values they
// already run with.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/flyte-admission/flyte-admission/tasklog"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Config is the whole configuration file.
type Config struct {
	Plugins Plugins `json:"plugins"`
	// ConsoleURL is Flyte's console URL (FLYTE_EXECUTION_URL); empty disables it.
	ConsoleURL string `json:"console-url,omitempty"`
	// PlatformResources are the project/domain resource defaults (requests) and
	// ceilings (limits) Flyte's admin would supply; unset means none.
	PlatformResources *corev1.ResourceRequirements `json:"platform-resources,omitempty"`

	// Generation is a digest of the effective configuration; it is part of the
	// flyte.org/expanded-from provenance marker.
	Generation string `json:"-"`
}

// Plugins is flytepropeller's plugins: section.
type Plugins struct {
	K8s   K8s               `json:"k8s"`
	Spark Spark             `json:"spark"`
	Ray   Ray               `json:"ray"`
	Dask  Dask              `json:"dask"`
	Logs  tasklog.LogConfig `json:"logs"`
}

// K8s is plugins.k8s (flytek8s/config.K8sPluginConfig of Flyte 1.16.8).
type K8s struct {
	InjectFinalizer                      bool                            `json:"inject-finalizer,omitempty"`
	DefaultAnnotations                   StringMap                       `json:"default-annotations,omitempty"`
	DefaultLabels                        StringMap                       `json:"default-labels,omitempty"`
	DefaultEnvVars                       StringMap                       `json:"default-env-vars,omitempty"`
	DefaultEnvVarsFromEnv                StringMap                       `json:"default-env-vars-from-env,omitempty"`
	DefaultEnvFromConfigMaps             []string                        `json:"default-env-from-configmaps,omitempty"`
	DefaultEnvFromSecrets                []string                        `json:"default-env-from-secrets,omitempty"`
	DefaultCPURequest                    resource.Quantity               `json:"default-cpus"`
	DefaultMemoryRequest                 resource.Quantity               `json:"default-memory"`
	DefaultTolerations                   []corev1.Toleration             `json:"default-tolerations,omitempty"`
	DefaultNodeSelector                  StringMap                       `json:"default-node-selector,omitempty"`
	DefaultAffinity                      *corev1.Affinity                `json:"default-affinity,omitempty"`
	SchedulerName                        string                          `json:"scheduler-name,omitempty"`
	InterruptibleTolerations             []corev1.Toleration             `json:"interruptible-tolerations,omitempty"`
	InterruptibleNodeSelector            StringMap                       `json:"interruptible-node-selector,omitempty"`
	InterruptibleNodeSelectorRequirement *corev1.NodeSelectorRequirement `json:"interruptible-node-selector-requirement,omitempty"`
	NonInterruptibleNodeSelectorReq      *corev1.NodeSelectorRequirement `json:"non-interruptible-node-selector-requirement,omitempty"`
	ResourceTolerations                  map[string][]corev1.Toleration  `json:"resource-tolerations,omitempty"`
	CoPilot                              map[string]any                  `json:"co-pilot,omitempty"`
	DeleteResourceOnFinalize             bool                            `json:"delete-resource-on-finalize,omitempty"`
	CreateContainerErrorGracePeriod      string                          `json:"create-container-error-grace-period,omitempty"`
	CreateContainerConfigErrorGrace      string                          `json:"create-container-config-error-grace-period,omitempty"`
	ImagePullBackoffGracePeriod          string                          `json:"image-pull-backoff-grace-period,omitempty"`
	PodPendingTimeout                    string                          `json:"pod-pending-timeout,omitempty"`
	ImagePullPolicy                      corev1.PullPolicy               `json:"image-pull-policy,omitempty"`
	GpuDeviceNodeLabel                   string                          `json:"gpu-device-node-label,omitempty"`
	GpuPartitionSizeNodeLabel            string                          `json:"gpu-partition-size-node-label,omitempty"`
	GpuUnpartitionedNodeSelectorReq      *corev1.NodeSelectorRequirement `json:"gpu-unpartitioned-node-selector-requirement,omitempty"`
	GpuUnpartitionedToleration           *corev1.Toleration              `json:"gpu-unpartitioned-toleration,omitempty"`
	GpuResourceName                      corev1.ResourceName             `json:"gpu-resource-name,omitempty"`
	DefaultPodSecurityContext            *corev1.PodSecurityContext      `json:"default-pod-security-context,omitempty"`
	DefaultSecurityContext               *corev1.SecurityContext         `json:"default-security-context,omitempty"`
	EnableHostNetworkingPod              *bool                           `json:"enable-host-networking-pod,omitempty"`
	DefaultPodDNSConfig                  *corev1.PodDNSConfig            `json:"default-pod-dns-config,omitempty"`
	DefaultPodTemplateName               string                          `json:"default-pod-template-name,omitempty"`
	DefaultPodTemplateResync             string                          `json:"default-pod-template-resync,omitempty"`
	SendObjectEvents                     bool                            `json:"send-object-events,omitempty"`
	UpdateBaseBackoffDuration            int                             `json:"update-base-backoff-duration,omitempty"`
	UpdateBackoffRetries                 int                             `json:"update-backoff-retries,omitempty"`
	AddTolerationsForExtendedResources   []string                        `json:"add-tolerations-for-extended-resources,omitempty"`
	EnableDistributedErrorAggregation    bool                            `json:"enable-distributed-error-aggregation,omitempty"`
}

// Spark is plugins.spark.
type Spark struct {
	DefaultSparkConfig    StringMap `json:"spark-config-default,omitempty"`
	SparkHistoryServerURL string    `json:"spark-history-server-url,omitempty"`
	Features              []Feature `json:"features,omitempty"`
	Logs                  SparkLogs `json:"logs"`
}

// Feature is one Spark feature flag: spark.flyte.<name>.enabled=true expands
// into its spark-config entries.
type Feature struct {
	Name        string    `json:"name"`
	SparkConfig StringMap `json:"spark-config"`
}

// SparkLogs are the four Spark log groups.
type SparkLogs struct {
	Mixed   tasklog.LogConfig `json:"mixed"`
	User    tasklog.LogConfig `json:"user"`
	System  tasklog.LogConfig `json:"system"`
	AllUser tasklog.LogConfig `json:"all-user"`
}

// Ray is plugins.ray.
type Ray struct {
	ShutdownAfterJobFinishes bool                       `json:"shutdownAfterJobFinishes"`
	TTLSecondsAfterFinished  int32                      `json:"ttlSecondsAfterFinished"`
	ServiceType              string                     `json:"serviceType,omitempty"`
	EnableIngress            bool                       `json:"enableIngress"`
	IncludeDashboard         bool                       `json:"includeDashboard"`
	DashboardHost            string                     `json:"dashboardHost,omitempty"`
	NodeIPAddress            string                     `json:"nodeIPAddress,omitempty"`
	RemoteClusterConfig      map[string]any             `json:"remoteClusterConfig,omitempty"`
	Logs                     tasklog.LogConfig          `json:"logs"`
	LogsSidecar              *corev1.Container          `json:"logsSidecar,omitempty"`
	DashboardURLTemplate     *tasklog.TemplateLogPlugin `json:"dashboardURLTemplate,omitempty"`
	Defaults                 RayDefaults                `json:"defaults"`
	EnableUsageStats         bool                       `json:"enableUsageStats"`
	ServiceAccount           string                     `json:"serviceAccount,omitempty"`
}

// RayDefaults are the default start parameters of head and worker nodes.
type RayDefaults struct {
	HeadNode   RayNode `json:"headNode"`
	WorkerNode RayNode `json:"workerNode"`
}

// RayNode is one node kind's defaults.
type RayNode struct {
	StartParameters StringMap `json:"startParameters,omitempty"`
	IPAddress       string    `json:"ipAddress,omitempty"`
}

// Dask is plugins.dask.
type Dask struct {
	Logs tasklog.LogConfig `json:"logs"`
}

// Default returns Flyte 1.16.8's defaults.
func Default() *Config {
	c := &Config{}
	k := &c.Plugins.K8s
	k.DefaultAnnotations = StringMap{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
	k.DefaultCPURequest = resource.MustParse("1000m")
	k.DefaultMemoryRequest = resource.MustParse("1024Mi")
	k.GpuDeviceNodeLabel = "k8s.amazonaws.com/accelerator"
	k.GpuPartitionSizeNodeLabel = "k8s.amazonaws.com/gpu-partition-size"
	k.GpuResourceName = "nvidia.com/gpu"
	k.UpdateBaseBackoffDuration = 10
	k.UpdateBackoffRetries = 5
	c.Plugins.Spark.Logs.Mixed = tasklog.DefaultLogConfig()
	r := &c.Plugins.Ray
	r.ShutdownAfterJobFinishes = true
	r.TTLSecondsAfterFinished = 3600
	r.ServiceType = "NodePort"
	r.IncludeDashboard = true
	r.DashboardHost = "0.0.0.0"
	r.Defaults.HeadNode = RayNode{StartParameters: StringMap{"disable-usage-stats": "true"}, IPAddress: "$MY_POD_IP"}
	r.Defaults.WorkerNode = RayNode{StartParameters: StringMap{"disable-usage-stats": "true"}, IPAddress: "$MY_POD_IP"}
	c.Plugins.Dask.Logs = tasklog.DefaultLogConfig()
	c.finish()
	return c
}

// Load reads a configuration file; an empty path gives the defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes configuration YAML (or JSON) over the defaults, accepting
// every form Flyte's own loader accepts for the keys it reads (see normalize).
// Unknown keys are an error naming the key's full path; Flyte's sections for
// plugins this webhook does not run are dropped unread.
func Parse(data []byte) (*Config, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	c := Default()
	if doc == nil {
		return c, nil
	}
	tree, err := jsonTree("", doc)
	if err != nil {
		return nil, err
	}
	if root, ok := tree.(map[string]any); ok {
		if plugins, ok := root["plugins"].(map[string]any); ok {
			for k := range plugins {
				if ignoredPluginSections[strings.ToLower(k)] {
					delete(plugins, k)
				}
			}
		}
	}
	tree, err = normalize("", tree, typeOfConfig)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("re-encode: %w", err)
	}
	if err := json.Unmarshal(js, c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	c.finish()
	return c, nil
}

// jsonTree turns a decoded YAML document into JSON's value kinds: map keys
// become strings (as flytestdlib formats non-string keys, with %v) and
// timestamps their RFC 3339 text.
func jsonTree(path string, v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			nv, err := jsonTree(join(path, k), val)
			if err != nil {
				return nil, err
			}
			t[k] = nv
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			ks := fmt.Sprintf("%v", k)
			nv, err := jsonTree(join(path, ks), val)
			if err != nil {
				return nil, err
			}
			out[ks] = nv
		}
		return out, nil
	case []any:
		for i, val := range t {
			nv, err := jsonTree(fmt.Sprintf("%s[%d]", path, i), val)
			if err != nil {
				return nil, err
			}
			t[i] = nv
		}
		return t, nil
	case nil, string, bool, int, int64, uint64:
		return t, nil
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil, fmt.Errorf("%s: %v is not a usable number", orRoot(path), t)
		}
		return t, nil
	case time.Time:
		return t.Format(time.RFC3339Nano), nil
	default:
		return nil, fmt.Errorf("%s: unsupported YAML value %T", orRoot(path), v)
	}
}

// finish applies Flyte's config-update hooks and computes the generation.
func (c *Config) finish() {
	r := &c.Plugins.Ray
	if r.NodeIPAddress != "" {
		if r.Defaults.HeadNode.IPAddress == "" {
			r.Defaults.HeadNode.IPAddress = r.NodeIPAddress
		}
		if r.Defaults.WorkerNode.IPAddress == "" {
			r.Defaults.WorkerNode.IPAddress = r.NodeIPAddress
		}
	}
	if c.Plugins.K8s.GpuResourceName == "" {
		c.Plugins.K8s.GpuResourceName = "nvidia.com/gpu"
	}
	// Every pod gets copies of these quantities: with their canonical text
	// cached here, encoding a copy does not compute it again (String
	// allocates twice for "1024Mi" on each copy).
	k := &c.Plugins.K8s
	_, _ = k.DefaultCPURequest.String(), k.DefaultMemoryRequest.String()
	if pr := c.PlatformResources; pr != nil {
		cacheQuantities(pr.Requests)
		cacheQuantities(pr.Limits)
	}
	data, _ := json.Marshal(c)
	sum := sha256.Sum256(data)
	c.Generation = hex.EncodeToString(sum[:8])
}

// cacheQuantities caches the canonical text of each quantity of l.
func cacheQuantities(l corev1.ResourceList) {
	for name, q := range l {
		_ = q.String()
		l[name] = q
	}
}

// StringMap is a string map. The configuration loader also accepts Flyte's
// Helm-chart form for it, a list of single-entry maps (needed for keys with
// dots or capitals), and converts scalar values as Flyte does (see normalize).
type StringMap map[string]string

// UnmarshalJSON replaces the map rather than merging into it, so a set value
// replaces the default as it does in Flyte (mapstructure's ZeroFields).
func (m *StringMap) UnmarshalJSON(data []byte) error {
	var out map[string]string
	if err := json.Unmarshal(data, &out); err != nil {
		return err
	}
	*m = out
	return nil
}
