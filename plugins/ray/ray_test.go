package ray

import (
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestPhase(t *testing.T) {
	cases := []struct {
		status        rayv1.JobDeploymentStatus
		phase, reason string
	}{
		{"", plugins.PhaseQueued, "Scheduling"},
		{rayv1.JobDeploymentStatusInitializing, plugins.PhaseInitializing, "cluster is creating"},
		{rayv1.JobDeploymentStatusRunning, plugins.PhaseRunning, ""},
		{rayv1.JobDeploymentStatusComplete, plugins.PhaseSuccess, ""},
		{rayv1.JobDeploymentStatusSuspended, plugins.PhaseQueued, "Suspended"},
		{rayv1.JobDeploymentStatusSuspending, plugins.PhaseQueued, "Suspending"},
		{rayv1.JobDeploymentStatusFailed, plugins.PhaseRetryableFailure, ""},
		{rayv1.JobDeploymentStatusRetrying, plugins.PhaseUndefined, ""},
	}
	for _, c := range cases {
		t.Run(string(c.status), func(t *testing.T) {
			rj := &rayv1.RayJob{}
			rj.Name, rj.Namespace = "test-ray-job", "p-d"
			rj.Status.JobDeploymentStatus = c.status
			rj.Status.Reason, rj.Status.Message = "OOMKilled", "head node ran out of memory"
			info := New().Phase(rj, config.Default(), time.Now())
			require.Equal(t, c.phase, info.Phase)
			require.Equal(t, c.reason, info.Reason)
			if c.phase == plugins.PhaseRetryableFailure {
				require.Equal(t, "Failed to run Ray job test-ray-job with error: [OOMKilled] head node ran out of memory", info.Message)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cfg := config.Default()
	cfg.Plugins.Ray.LogsSidecar = &corev1.Container{Name: "logs", Image: "fluent-bit"}
	rj := &rayv1.RayJob{}
	rj.Spec.RayClusterSpec = &rayv1.RayClusterSpec{}
	rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers = []corev1.Container{{Name: HeadContainer, Image: "ray:2"}, {Name: "logs", Image: "fluent-bit"}}
	rj.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "s", Image: "ray:2"}}}}
	require.Empty(t, New().Validate(rj, cfg))

	rj.Spec.SubmitterPodTemplate.Spec.Containers[0].Image = "ray:1"
	errs := New().Validate(rj, cfg)
	require.Len(t, errs, 1)
	require.Equal(t, "spec.submitterPodTemplate.spec.containers[0].image", errs[0].Field)

	rj.Spec.SubmitterPodTemplate.Spec.Containers[0].Image = "ray:2"
	rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers = rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers[:1]
	errs = New().Validate(rj, cfg)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Detail, `logs sidecar "logs"`)
}

func TestEntrypointKeepsEmptyArgs(t *testing.T) {
	require.Equal(t, "pyflyte-map-execute --resolver R -- vars '' resolver x", entrypoint([]string{"pyflyte-map-execute", "--resolver", "R", "--", "vars", "", "resolver", "x"}))
}

func TestValidateReplicas(t *testing.T) {
	i := func(v int32) *int32 { return &v }
	cases := []struct {
		name           string
		group          rayv1.WorkerGroupSpec
		fields, detail []string
	}{
		{"valid", rayv1.WorkerGroupSpec{Replicas: i(2), MinReplicas: i(1), MaxReplicas: i(4)}, nil, nil},
		{"unset", rayv1.WorkerGroupSpec{}, nil, nil},
		{"zero", rayv1.WorkerGroupSpec{Replicas: i(0), MinReplicas: i(0), MaxReplicas: i(0)}, nil, nil},
		{"negative replicas", rayv1.WorkerGroupSpec{Replicas: i(-1), MinReplicas: i(-1), MaxReplicas: i(3)},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[1].replicas", "spec.rayClusterSpec.workerGroupSpecs[1].minReplicas"},
			[]string{"greater than or equal to 0", "greater than or equal to 0"}},
		{"negative max", rayv1.WorkerGroupSpec{Replicas: i(1), MinReplicas: i(0), MaxReplicas: i(-2)},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[1].maxReplicas", "spec.rayClusterSpec.workerGroupSpecs[1].minReplicas"},
			[]string{"greater than or equal to 0", "less than or equal to maxReplicas (-2)"}},
		{"min above max", rayv1.WorkerGroupSpec{Replicas: i(3), MinReplicas: i(5), MaxReplicas: i(1)},
			[]string{"spec.rayClusterSpec.workerGroupSpecs[1].minReplicas"}, []string{"less than or equal to maxReplicas (1)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rj := &rayv1.RayJob{}
			rj.Spec.RayClusterSpec = &rayv1.RayClusterSpec{WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{Replicas: i(1)}, c.group}}
			rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers = []corev1.Container{{Name: HeadContainer, Image: "ray:2"}}
			errs := New().Validate(rj, config.Default())
			var fields, details []string
			for _, e := range errs {
				fields, details = append(fields, e.Field), append(details, e.Detail)
			}
			require.Equal(t, c.fields, fields)
			for k, d := range c.detail {
				require.Contains(t, details[k], d)
			}
		})
	}
}
