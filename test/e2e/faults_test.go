package e2e

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/objects"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/flyte-admission/flyte-admission/watch/watchtest"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// faultWait is the deadline of every wait-until in these tests: generous,
// for a loaded 2-core machine.
const faultWait = 2 * time.Minute

// job is one example object as stored: its kind and name.
type job struct {
	gvk      schema.GroupVersionKind
	ns, name string
	succeeds bool // the operator reports success (else failure)
}

func (j *job) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(j.gvk)
	u.SetNamespace(j.ns)
	u.SetName(j.name)
	return u
}

func (j *job) String() string { return j.gvk.Kind + " " + j.ns + "/" + j.name }

// exampleJobs are the objects of examples/*.yaml but the namespace, every
// second one of each kind set to fail.
func exampleJobs(t *testing.T) []*job {
	t.Helper()
	var out []*job
	perKind := map[string]int{}
	for _, f := range jobFiles(t) {
		objs, err := objects.ReadPath(f)
		require.NoError(t, err)
		for _, o := range objs {
			u := unstructured.Unstructured{Object: o.Map}
			perKind[u.GetKind()]++
			out = append(out, &job{gvk: u.GroupVersionKind(), ns: u.GetNamespace(), name: u.GetName(), succeeds: perKind[u.GetKind()]%2 == 1})
		}
	}
	return out
}

// operatorStatus is what the kind's operator writes into status at each step
// of a job ("running", "succeeded", "failed") and the Flyte phase and reason
// the watcher must report for it, as in watch's phase tests.
func operatorStatus(j *job, step string) (status map[string]any, phase, reason string) {
	switch j.gvk.Kind + "/" + step {
	case "SparkApplication/running":
		return map[string]any{"applicationState": map[string]any{"state": "RUNNING"},
			"driverInfo": map[string]any{"podName": j.name + "-driver", "webUIIngressAddress": "spark-ui.example.com/" + j.name}}, "Running", ""
	case "SparkApplication/succeeded":
		return map[string]any{"applicationState": map[string]any{"state": "COMPLETED"}, "sparkApplicationId": "spark-" + j.name,
			"terminationTime": "2026-01-02T03:04:05Z"}, "Success", ""
	case "SparkApplication/failed":
		return map[string]any{"applicationState": map[string]any{"state": "FAILED", "errorMessage": "driver OOMKilled"}},
			"RetryableFailure", "Spark Job Failed with Error: driver OOMKilled"
	case "RayJob/running":
		return map[string]any{"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "jobId": j.name + "-x1",
			"rayClusterName": j.name + "-raycluster", "dashboardURL": j.name + "-head-svc." + j.ns + ":8265"}, "Running", ""
	case "RayJob/succeeded":
		return map[string]any{"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, "Success", ""
	case "RayJob/failed":
		return map[string]any{"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed", "message": "exit code 1"},
			"RetryableFailure", "Failed to run Ray job " + j.name + " with error: [AppFailed] exit code 1"
	case "DaskJob/running":
		return map[string]any{"jobStatus": "Running", "jobRunnerPodName": j.name + "-runner", "startTime": "2026-01-02T03:04:05Z"}, "Running", ""
	case "DaskJob/succeeded":
		return map[string]any{"jobStatus": "Successful", "endTime": "2026-01-02T04:04:05Z"}, "Success", ""
	case "DaskJob/failed":
		return map[string]any{"jobStatus": "Failed", "endTime": "2026-01-02T04:04:05Z"}, "RetryableFailure", "Dask Job failed"
	}
	panic("no status for " + j.gvk.Kind + "/" + step)
}

// writeStatuses writes step's status into every job's status subresource, as
// the operators do, retrying each write until the apiserver takes it (it may
// just have restarted), and returns the number of writes.
func writeStatuses(t *testing.T, c *cluster, jobs []*job, step func(*job) string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, j := range jobs {
		status, _, _ := operatorStatus(j, step(j))
		var err error
		require.Eventually(t, func() bool {
			err = watchtest.PatchStatus(ctx, c.Client, j.object(), status)
			return err == nil
		}, faultWait, 100*time.Millisecond, "status of %s: %v", j, err)
		n++
	}
	return n
}

// waitReported waits until the watcher reported step's phase and reason on
// every job, and returns how many it checked.
func waitReported(t *testing.T, c *cluster, jobs []*job, step func(*job) string) int {
	t.Helper()
	ctx := context.Background()
	for _, j := range jobs {
		_, phase, reason := operatorStatus(j, step(j))
		var got map[string]string
		var err error
		require.Eventually(t, func() bool {
			got, err = watchtest.Reported(ctx, c.Client, j.object())
			return err == nil && got[watch.PhaseAnnotation] == phase
		}, faultWait, 100*time.Millisecond, "%s: want phase %s, have %v (%v)", j, phase, got, err)
		if reason != "" {
			require.Equal(t, reason, got[watch.PhaseReasonAnnotation], j.String())
		}
	}
	return len(jobs)
}

func stepOf(name string) func(*job) string { return func(*job) string { return name } }

func terminal(j *job) string {
	if j.succeeds {
		return "succeeded"
	}
	return "failed"
}

// TestFaultAPIServerRestart restarts kube-apiserver (etcd keeps the data)
// under a running serve whose watcher reports the example jobs, and plays
// the operators' status updates before, right after and once the watcher is
// back: every phase is reported. An outage longer than the watcher's lease
// makes serve exit ("leader election lost", as any controller-runtime
// manager); the test then restarts it as the kubelet would, and counts it.
func TestFaultAPIServerRestart(t *testing.T) {
	c := startCluster(t, "")
	ctx := context.Background()
	_, stderr, err := c.kubectl(t, nil, "apply", "-f", "../../examples/")
	require.NoError(t, err, stderr)
	jobs := exampleJobs(t)
	require.Len(t, jobs, 9)
	for _, j := range jobs {
		var got map[string]string
		require.Eventually(t, func() bool {
			got, err = watchtest.Reported(ctx, c.Client, j.object())
			return err == nil && got[watch.PhaseAnnotation] != ""
		}, faultWait, 100*time.Millisecond, "%s: no initial phase reported", j)
	}
	writes := writeStatuses(t, c, jobs, stepOf("running"))
	reported := waitReported(t, c, jobs, stepOf("running"))

	c.RestartAPIServer(t, func() {})
	back := time.Now()
	// The operators carry on as soon as the apiserver is back, before the
	// watcher has re-listed (or, if it lost its lease, before it restarted).
	early, late := jobs[:len(jobs)/2], jobs[len(jobs)/2:]
	writes += writeStatuses(t, c, early, terminal)

	restarts := c.waitWatcherLeads(t, back)
	writes += writeStatuses(t, c, late, terminal)
	reported += waitReported(t, c, jobs, terminal)

	// The webhook expands, and the watcher reports, a job created afterwards.
	data, err := os.ReadFile("../../examples/spark-pi.yaml")
	require.NoError(t, err)
	_, stderr, err = c.kubectl(t, bytes.Replace(data, []byte("name: spark-pi\n"), []byte("name: spark-pi-after\n"), 1), "apply", "-f", "-")
	require.NoError(t, err, stderr)
	after := &job{gvk: sparkv1beta2.SchemeGroupVersion.WithKind("SparkApplication"), ns: "flytesnacks-development", name: "spark-pi-after"}
	require.Contains(t, meta(c.getJSON(t, "sparkapplication", after.ns, after.name))["annotations"], "flyte.org/expanded-from")
	jobs = append(jobs, after)
	writes += writeStatuses(t, c, jobs[len(jobs)-1:], stepOf("running"))
	reported += waitReported(t, c, jobs[len(jobs)-1:], stepOf("running"))
	t.Logf("apiserver restart: %d objects (%d Spark, %d Ray, %d Dask), %d status writes, %d reported; "+
		"%d written while the watcher was reconnecting or restarting; serve restarted %d times",
		len(jobs), countKind(jobs, "SparkApplication"), countKind(jobs, "RayJob"), countKind(jobs, "DaskJob"),
		writes, reported, len(early), restarts)
	require.Equal(t, writes, reported)
}

func countKind(jobs []*job, kind string) int {
	n := 0
	for _, j := range jobs {
		if j.gvk.Kind == kind {
			n++
		}
	}
	return n
}

// waitWatcherLeads waits until serve's watcher holds its Lease again, renewed
// after since; if serve exited meanwhile (its lease could not be renewed
// while the apiserver was down), it is started again with the same
// arguments, as the kubelet would, until one leads. It returns the number of
// restarts.
func (c *cluster) waitWatcherLeads(t *testing.T, since time.Time) int {
	t.Helper()
	restarts := 0
	key := client.ObjectKey{Namespace: "flyte-admission", Name: "flyte-admission-watch"}
	require.Eventually(t, func() bool {
		select {
		case <-c.serve.exited:
			t.Logf("serve exited (%v); restarting it", c.serve.err)
			c.serve = c.startServe(t, c.serve.port, c.serve.extra...)
			c.probe, c.metrics = c.serve.probe, c.serve.metrics
			restarts++
			return false
		default:
		}
		var lease coordinationv1.Lease
		if err := c.Client.Get(context.Background(), key, &lease); err != nil || lease.Spec.RenewTime == nil {
			return false
		}
		return lease.Spec.RenewTime.After(since)
	}, 2*faultWait, 100*time.Millisecond, "serve's watcher never held its lease again")
	c.serve.waitReady(t)
	return restarts
}
