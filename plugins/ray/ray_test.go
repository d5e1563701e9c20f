package ray

import (
	"strings"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/task"
	flyteplugins "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
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

// validJob is a RayJob KubeRay accepts: a Flyte one when flyte is set.
func validJob(flyte bool) *rayv1.RayJob {
	i := func(v int32) *int32 { return &v }
	rj := &rayv1.RayJob{}
	rj.Name = "ray-job"
	if flyte {
		rj.Annotations = map[string]string{task.TemplateAnnotation: "type: ray"}
	}
	rj.Spec.ShutdownAfterJobFinishes = true
	rj.Spec.TTLSecondsAfterFinished = 3600
	rj.Spec.RayClusterSpec = &rayv1.RayClusterSpec{}
	rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers = []corev1.Container{{Name: HeadContainer, Image: "ray:2"}, {Name: "logs", Image: "fluent-bit"}}
	rj.Spec.RayClusterSpec.WorkerGroupSpecs = []rayv1.WorkerGroupSpec{
		{GroupName: "a", Replicas: i(1), MinReplicas: i(1), MaxReplicas: i(1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: WorkerContainer, Image: "ray:2"}}}}},
		{GroupName: "b", Replicas: i(1), MinReplicas: i(0), MaxReplicas: i(4), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: WorkerContainer, Image: "ray:2"}}}}},
	}
	rj.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "s", Image: "ray:2"}}}}
	return rj
}

func TestValidate(t *testing.T) {
	i := func(v int32) *int32 { return &v }
	cases := []struct {
		name   string
		flyte  bool
		change func(rj *rayv1.RayJob)
		field  string
		detail string
	}{
		{"valid Flyte RayJob", true, func(*rayv1.RayJob) {}, "", ""},
		{"submitter off the head image", false, func(rj *rayv1.RayJob) {
			rj.Spec.SubmitterPodTemplate.Spec.Containers[0].Image = "ray:1"
		}, "spec.submitterPodTemplate.spec.containers[0].image", `the submitter must run the head image "ray:2"`},
		{"Flyte submitter with a command", true, func(rj *rayv1.RayJob) {
			rj.Spec.SubmitterPodTemplate.Spec.Containers[0].Command = []string{"python"}
		}, "spec.submitterPodTemplate.spec.containers[0].command", "ray job submit"},
		{"hand-written submitter with a command", false, func(rj *rayv1.RayJob) {
			rj.Spec.SubmitterPodTemplate.Spec.Containers[0].Command = []string{"python"}
		}, "", ""},
		{"logs sidecar missing", false, func(rj *rayv1.RayJob) {
			rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers = rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers[:1]
		}, "spec.rayClusterSpec.headGroupSpec.template.spec.containers", `logs sidecar "logs"`},
		{"Flyte head with a sidecar first", true, func(rj *rayv1.RayJob) {
			h := &rj.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec
			h.Containers[0], h.Containers[1] = h.Containers[1], h.Containers[0]
			rj.Spec.SubmitterPodTemplate.Spec.Containers[0].Image = "fluent-bit"
		}, "spec.rayClusterSpec.headGroupSpec.template.spec.containers[1].name", "must come first"},
		{"Flyte worker with a sidecar first", true, func(rj *rayv1.RayJob) {
			w := &rj.Spec.RayClusterSpec.WorkerGroupSpecs[1].Template.Spec
			w.Containers = append([]corev1.Container{{Name: "envoy", Image: "envoy"}}, w.Containers...)
		}, "spec.rayClusterSpec.workerGroupSpecs[1].template.spec.containers[1].name", "must come first"},
		{"TTL on a kept cluster (KubeRay)", false, func(rj *rayv1.RayJob) {
			rj.Spec.ShutdownAfterJobFinishes = false
		}, "spec.ttlSecondsAfterFinished", "shutdownAfterJobFinishes set to false cannot have TTLSecondsAfterFinished"},
		{"negative replicas (KubeRay)", false, func(rj *rayv1.RayJob) {
			rj.Spec.RayClusterSpec.WorkerGroupSpecs[1].MinReplicas = i(-1)
		}, "spec.rayClusterSpec.workerGroupSpecs[1]", "negative minReplicas -1"},
		{"negative replicas (the count check of every kind, with the field)", false, func(rj *rayv1.RayJob) {
			rj.Spec.RayClusterSpec.WorkerGroupSpecs[1].MinReplicas = i(-1)
		}, "spec.rayClusterSpec.workerGroupSpecs[1].minReplicas", "must be greater than or equal to 0"},
		{"min above max (KubeRay)", false, func(rj *rayv1.RayJob) {
			rj.Spec.RayClusterSpec.WorkerGroupSpecs[1].MinReplicas = i(5)
			rj.Spec.RayClusterSpec.WorkerGroupSpecs[1].MaxReplicas = i(1)
		}, "spec.rayClusterSpec.workerGroupSpecs[1]", "minReplicas 5 greater than maxReplicas 1"},
		{"name KubeRay refuses", false, func(rj *rayv1.RayJob) {
			rj.Name = "a-very-long-ray-job-name-that-kuberay-will-not-accept"
		}, "metadata.name", "no more than"},
		{"no name yet (generateName)", false, func(rj *rayv1.RayJob) { rj.Name = "" }, "", ""},
	}
	cfg := config.Default()
	cfg.Plugins.Ray.LogsSidecar = &corev1.Container{Name: "logs", Image: "fluent-bit"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rj := validJob(c.flyte)
			c.change(rj)
			errs := New().Validate(rj, cfg)
			if c.field == "" {
				require.Empty(t, errs)
				return
			}
			// The error naming c.field (a negative count is refused twice:
			// by KubeRay, naming the group, and by the count check of every
			// kind, naming the field).
			var found bool
			for _, e := range errs {
				if e.Field == c.field {
					require.Contains(t, e.Detail, c.detail)
					found = true
				}
			}
			require.True(t, found, "no error on %s: %v", c.field, errs.ToAggregate())
			want := 1
			if strings.HasPrefix(c.name, "negative replicas") {
				want = 2
			}
			require.Len(t, errs, want, errs.ToAggregate())
		})
	}
}

func TestEntrypoint(t *testing.T) {
	require.Equal(t, "pyflyte-map-execute --resolver R -- vars '' resolver x", entrypoint(nil, []string{"pyflyte-map-execute", "--resolver", "R", "--", "vars", "", "resolver", "x"}))
	require.Equal(t, "python -m my.entry", entrypoint([]string{"python"}, []string{"-m", "my.entry"}), "the command runs on the cluster too")
}

func TestRayContainerFirst(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "envoy"}, {Name: "istio"}, {Name: "main"}, {Name: "last"}}}
	require.Equal(t, 0, rayContainerFirst(spec, 2))
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"main", "envoy", "istio", "last"}, names)
}

func TestJobLifetime(t *testing.T) {
	kept := config.Default().Plugins.Ray
	kept.ShutdownAfterJobFinishes, kept.TTLSecondsAfterFinished = false, 3600
	shutdown, ttl := jobLifetime(&flyteplugins.RayJob{}, &kept)
	require.False(t, shutdown)
	require.Zero(t, ttl, "no TTL when the cluster is kept")
	shutdown, ttl = jobLifetime(&flyteplugins.RayJob{ShutdownAfterJobFinishes: true, TtlSecondsAfterFinished: 120}, &kept)
	require.True(t, shutdown)
	require.Equal(t, int32(120), ttl)
}
