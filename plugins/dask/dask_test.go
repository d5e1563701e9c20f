package dask

import (
	"testing"
	"time"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/tasklog"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestPhase(t *testing.T) {
	cases := []struct {
		status        daskv1.JobStatus
		phase, reason string
	}{
		{"", plugins.PhaseInitializing, "unknown"},
		{daskv1.DaskJobCreated, plugins.PhaseInitializing, "job created"},
		{daskv1.DaskJobClusterCreated, plugins.PhaseInitializing, "cluster created"},
		{daskv1.DaskJobRunning, plugins.PhaseRunning, ""},
		{daskv1.DaskJobSuccessful, plugins.PhaseSuccess, ""},
		{daskv1.DaskJobFailed, plugins.PhaseRetryableFailure, ""},
	}
	for _, c := range cases {
		dj := &daskv1.DaskJob{}
		dj.Name, dj.Namespace = "d", "p-d"
		dj.Status.JobStatus = c.status
		info := New().Phase(dj, config.Default(), time.Now())
		require.Equal(t, c.phase, info.Phase, c.status)
		require.Equal(t, c.reason, info.Reason, c.status)
		require.NotEmpty(t, info.Logs, "the default Kubernetes link is always there")
	}
}

func dashboardConfig(uri string) *config.Config {
	cfg := config.Default()
	cfg.Plugins.Dask.Logs.TemplatePlugins = []tasklog.TemplateLogPlugin{{DisplayName: "Dask Dashboard", LinkType: "dashboard", TemplateURIs: []string{uri}}}
	return cfg
}

func TestDashboardPrefix(t *testing.T) {
	cfg := dashboardConfig("https://flyte.example.com/dask/{{ .namespace }}/{{ .generatedName }}/status")
	got, err := DashboardPrefix(&cfg.Plugins.Dask.Logs, "flytesnacks-development", tasklog.TaskExecution{GeneratedName: "a1b2c3-n0-0"})
	require.NoError(t, err)
	require.Equal(t, "/dask/flytesnacks-development/a1b2c3-n0-0", got)

	noType := config.Default()
	noType.Plugins.Dask.Logs.TemplatePlugins = []tasklog.TemplateLogPlugin{{DisplayName: "D", TemplateURIs: []string{"https://x/{{ .namespace }}/status"}}}
	got, err = DashboardPrefix(&noType.Plugins.Dask.Logs, "ns", tasklog.TaskExecution{})
	require.NoError(t, err)
	require.Empty(t, got, "without linkType: dashboard there is no prefix")

	bad := dashboardConfig("http://[::1")
	_, err = DashboardPrefix(&bad.Plugins.Dask.Logs, "ns", tasklog.TaskExecution{})
	require.Error(t, err)
}

func TestValidateDashboardPrefix(t *testing.T) {
	cfg := dashboardConfig("https://x/dask/{{ .namespace }}/{{ .generatedName }}/status")
	dj := &daskv1.DaskJob{}
	dj.Name, dj.Namespace = "job", "p-d"
	dj.Spec.Cluster.Spec.Scheduler.Spec.Containers = []corev1.Container{{Name: SchedulerContainer, Args: []string{"dask-scheduler"}}}
	errs := New().Validate(dj, cfg)
	require.Len(t, errs, 1)
	require.Equal(t, "spec.cluster.spec.scheduler.spec.containers[0].args", errs[0].Field)

	dj.Spec.Cluster.Spec.Scheduler.Spec.Containers[0].Args = []string{"dask-scheduler", DashboardPrefixFlag, "/wrong"}
	errs = New().Validate(dj, cfg)
	require.Len(t, errs, 1)
	require.Equal(t, "spec.cluster.spec.scheduler.spec.containers[0].args[2]", errs[0].Field)

	dj.Spec.Cluster.Spec.Scheduler.Spec.Containers[0].Args = []string{"dask-scheduler", DashboardPrefixFlag, "/dask/p-d/job"}
	require.Empty(t, New().Validate(dj, cfg))
	require.Empty(t, New().Validate(dj, config.Default()), "no dashboard template, nothing required")
}
