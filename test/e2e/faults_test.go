package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyte-admission/flyte-admission/test/watchtest"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/flyte-admission/flyte-admission/webhook"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
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

// exampleJobs are the jobs of examples/*.yaml (not the namespace); the
// operator fails every second one of each kind.
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

// Where a write ended: stored, or refused by one of these.
const (
	storedOutcome = "stored"
	byMutating    = "mutating webhook"
	byValidating  = "validating webhook (Flyte objects)"
	byPolicies    = "validating webhook (hand-written jobs)"
	byPolicy      = "admission policy"
	bySchema      = "CRD schema"
)

// outcome names what refused err (nil: stored). A webhook refuses only by
// failing to be called: it is down in these tests.
func outcome(err error) string {
	if err == nil {
		return storedOutcome
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, `failed calling webhook "`+webhook.MutatingWebhookName+`"`):
		return byMutating
	case strings.Contains(msg, `failed calling webhook "`+webhook.ValidatingWebhookName+`"`):
		return byValidating
	case strings.Contains(msg, `failed calling webhook "`+webhook.PoliciesWebhookName+`"`):
		return byPolicies
	case strings.Contains(msg, "ValidatingAdmissionPolicy"):
		return byPolicy
	case strings.Contains(msg, "Required value"), strings.Contains(msg, "Invalid value"), strings.Contains(msg, "Unsupported value"):
		return bySchema
	}
	return "unexpected: " + msg
}

// writeKinds are the ways objects are written while the webhook is down.
const (
	skeletons     = "skeletons (kubectl apply of examples/)"
	handExpanded  = "skeletons with a full spec (template, no expanded-from)"
	expanded      = "expansions written as such (template and expanded-from)"
	unannotated   = "unannotated objects"
	flyteAnnotKey = "flyte.org/"
)

// downObjects are the objects written in each case, by write kind: the
// example skeletons as written, their offline expansion without
// flyte.org/expanded-from (a skeleton that passes the CRD schemas, so that
// only admission can refuse it), that expansion as is (annotated and
// marked expanded: only the validating webhook for Flyte objects can refuse
// it), and that expansion without any flyte.org/ annotation (a hand-written
// job). Names get suffix.
func downObjects(t *testing.T, suffix string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	dir := t.TempDir()
	for _, f := range jobFiles(t) {
		objs, err := objects.ReadPath(f)
		require.NoError(t, err)
		var docs [][]byte
		for _, o := range objs {
			obj := deepCopyMap(o.Map)
			meta(obj)["name"] = meta(obj)["name"].(string) + "-" + suffix
			out[skeletons] = append(out[skeletons], obj)
			data, err := json.Marshal(obj)
			require.NoError(t, err)
			docs = append(docs, data)
		}
		// Expanded under their new names (names show in the expansion).
		file := filepath.Join(dir, filepath.Base(f))
		require.NoError(t, os.WriteFile(file, bytes.Join(docs, []byte("\n---\n")), 0o644))
		for _, o := range offline(t, file) {
			hand := deepCopyMap(o)
			ann := meta(hand)["annotations"].(map[string]any)
			require.Contains(t, ann, task.TemplateAnnotation)
			require.Contains(t, ann, task.ExpandedFromAnnotation)
			delete(ann, task.ExpandedFromAnnotation)
			out[handExpanded] = append(out[handExpanded], hand)
			// Renamed so as not to collide with the unannotated one: the
			// names inside the spec are the skeleton's, which admission
			// does not check.
			exp := deepCopyMap(o)
			meta(exp)["name"] = meta(exp)["name"].(string) + "-x"
			out[expanded] = append(out[expanded], exp)

			plain := deepCopyMap(o)
			for k := range meta(plain)["annotations"].(map[string]any) {
				if strings.HasPrefix(k, flyteAnnotKey) {
					delete(meta(plain)["annotations"].(map[string]any), k)
				}
			}
			out[unannotated] = append(out[unannotated], plain)
		}
	}
	return out
}

// failurePolicies are those of the registered webhooks.
type failurePolicies struct {
	mutating, validating, policies admissionregistrationv1.FailurePolicyType
}

func (fp failurePolicies) String() string {
	return fmt.Sprintf("mutating %s, validating %s, policies %s", fp.mutating, fp.validating, fp.policies)
}

// setFailurePolicies sets the failurePolicy of the registered webhooks.
func (c *cluster) setFailurePolicies(t *testing.T, fp failurePolicies) {
	t.Helper()
	m, v := registeredWebhooks()
	c.edit(t, m, func() {
		require.Len(t, m.Webhooks, 1)
		m.Webhooks[0].FailurePolicy = &fp.mutating
	})
	c.edit(t, v, func() {
		require.Len(t, v.Webhooks, 2)
		for i := range v.Webhooks {
			w := &v.Webhooks[i]
			switch w.Name {
			case webhook.ValidatingWebhookName:
				w.FailurePolicy = &fp.validating
			case webhook.PoliciesWebhookName:
				w.FailurePolicy = &fp.policies
			default:
				t.Fatalf("unexpected validating webhook %q", w.Name)
			}
		}
	})
}

// registeredWebhooks are empty objects named like the registered webhook
// configurations, for edit.
func registeredWebhooks() (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	name := metav1.ObjectMeta{Name: webhook.DefaultName}
	return &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: name}, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: name}
}

// edit reads obj, applies change to it and updates it, again on conflicts
// (serve's certificate manager may be patching caBundle).
func (c *cluster) edit(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change()
		return c.Client.Update(ctx, obj)
	}))
}

// TestFaultWebhookDown stops serve behind the registration the product
// installs and writes the examples four ways, under four failure-policy
// settings, counting where each write ended: a skeleton is never stored
// un-expanded, an unannotated job is stored whenever the policies webhook
// may be skipped (as installed: the matchConditions send it nowhere else),
// and an annotated one is refused as long as one webhook that sees Flyte
// objects fails closed.
func TestFaultWebhookDown(t *testing.T) {
	c := startCluster(t, "")
	ctx := context.Background()
	_, stderr, err := c.kubectl(t, nil, "apply", "-f", "../../examples/00-namespace.yaml", "-f", "../../examples/spark-pi.yaml")
	require.NoError(t, err, stderr)
	require.Contains(t, meta(c.getJSON(t, "sparkapplication", "flytesnacks-development", "spark-pi"))["annotations"],
		task.ExpandedFromAnnotation, "while serve runs, the webhook expands")
	// Jobs an operator holds with a finalizer, deleted while serve runs:
	// the operator finishes their deletion while it is down.
	var held []*unstructured.Unstructured
	for _, kind := range []string{handExpanded, unannotated} {
		for _, obj := range downObjects(t, "held-"+map[string]string{handExpanded: "flyte", unannotated: "plain"}[kind])[kind] {
			u := &unstructured.Unstructured{Object: deepCopyMap(obj)}
			u.SetFinalizers([]string{"operator.example.com/cleanup"})
			require.NoError(t, c.Client.Create(ctx, u))
			require.NoError(t, c.Client.Delete(ctx, u))
			held = append(held, u)
		}
	}
	c.serve.stop(t)

	t.Run("as installed: the operator finishes deletions", func(t *testing.T) {
		counts := map[string]int{}
		for _, u := range held {
			err := c.Client.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
			got := outcome(err)
			counts[got]++
			if err == nil {
				require.Eventually(t, func() bool {
					return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKeyFromObject(u), u.DeepCopy()))
				}, faultWait, 100*time.Millisecond, "%s %s was not deleted", u.GetKind(), u.GetName())
			}
		}
		t.Logf("webhook down, as installed: finalizer removal tried on %d jobs being deleted (%d annotated): %d admitted and deleted; refused: %s",
			len(held), len(held)/2, counts[storedOutcome], formatCounts(withoutKey(counts, storedOutcome)))
		require.Equal(t, len(held), counts[storedOutcome], "finishing a deletion must not need the webhook")
	})

	fail, ignore := admissionregistrationv1.Fail, admissionregistrationv1.Ignore
	cases := []struct {
		name     string
		suffix   string
		policies failurePolicies
		want     map[string][]string // write kind -> allowed outcomes
	}{
		{"as installed: Flyte objects refused, hand-written jobs stored", "installed", failurePolicies{fail, fail, ignore}, map[string][]string{
			skeletons: {byMutating}, handExpanded: {byMutating}, expanded: {byMutating}, unannotated: {storedOutcome}}},
		{"policies webhook Fail (the chart's option): hand-written jobs refused too", "pfail", failurePolicies{fail, fail, fail}, map[string][]string{
			skeletons: {byMutating}, handExpanded: {byMutating}, expanded: {byMutating}, unannotated: {byPolicies}}},
		{"mutating webhook Ignore (edited by hand): the validating webhook still refuses Flyte objects", "mignore",
			failurePolicies{ignore, fail, ignore}, map[string][]string{
				skeletons: {byPolicy, bySchema}, handExpanded: {byPolicy}, expanded: {byValidating}, unannotated: {storedOutcome}}},
		{"every webhook Ignore: the admission policy is the backstop", "ignore", failurePolicies{ignore, ignore, ignore}, map[string][]string{
			skeletons: {byPolicy, bySchema}, handExpanded: {byPolicy}, expanded: {storedOutcome}, unannotated: {storedOutcome}}},
	}
	storedWant := 1 // the control job
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.setFailurePolicies(t, tc.policies)
			objs := downObjects(t, tc.suffix)
			// The apiserver picks the new policies up shortly: wait until
			// a dry run of each write kind ends as wanted.
			for _, kind := range []string{handExpanded, expanded, unannotated} {
				probe := &unstructured.Unstructured{Object: deepCopyMap(objs[kind][0])}
				var got string
				require.Eventually(t, func() bool {
					got = outcome(c.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll))
					return slices.Contains(tc.want[kind], got)
				}, faultWait, 200*time.Millisecond, "%s: a dry run still ends %q", kind, got)
			}

			for _, kind := range []string{skeletons, handExpanded, expanded, unannotated} {
				counts := map[string]int{}
				for _, obj := range objs[kind] {
					var err error
					if kind == skeletons {
						data, jerr := json.Marshal(obj)
						require.NoError(t, jerr)
						var stderr string
						if _, stderr, err = c.kubectl(t, data, "apply", "-f", "-"); err != nil {
							err = errors.New(stderr)
						}
					} else {
						err = c.Client.Create(ctx, &unstructured.Unstructured{Object: deepCopyMap(obj)})
					}
					got := outcome(err)
					counts[got]++
					require.Contains(t, tc.want[kind], got, "%s %s", obj["kind"], meta(obj)["name"])
					stored := &unstructured.Unstructured{}
					stored.SetAPIVersion(obj["apiVersion"].(string))
					stored.SetKind(obj["kind"].(string))
					gerr := c.Client.Get(ctx, client.ObjectKey{Namespace: meta(obj)["namespace"].(string), Name: meta(obj)["name"].(string)}, stored)
					if got == storedOutcome {
						require.NoError(t, gerr)
						storedWant++
					} else {
						require.True(t, apierrors.IsNotFound(gerr), "%s %s was refused (%s) but is stored: %v", obj["kind"], meta(obj)["name"], got, gerr)
					}
				}
				require.Len(t, objs[kind], 9, kind)
				t.Logf("webhook down, %s: %d %s written: %s", tc.policies, len(objs[kind]), kind, formatCounts(counts))
			}
		})
	}

	t.Run("no skeleton was stored un-expanded", func(t *testing.T) {
		total, unexpanded := 0, 0
		for _, kind := range []string{"SparkApplicationList", "RayJobList", "DaskJobList"} {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion(map[string]string{"SparkApplicationList": "sparkoperator.k8s.io/v1beta2", "RayJobList": "ray.io/v1", "DaskJobList": "kubernetes.dask.org/v1"}[kind])
			list.SetKind(kind)
			require.NoError(t, c.Client.List(ctx, list))
			for _, it := range list.Items {
				total++
				ann := it.GetAnnotations()
				if _, tmpl := ann[task.TemplateAnnotation]; tmpl {
					if _, exp := ann[task.ExpandedFromAnnotation]; !exp {
						unexpanded++
						t.Errorf("%s %s/%s carries a task template but was not expanded", it.GetKind(), it.GetNamespace(), it.GetName())
					}
				}
			}
		}
		t.Logf("stored jobs: %d, un-expanded skeletons among them: %d", total, unexpanded)
		require.Equal(t, 1+3*9+9, storedWant, "the control job, the unannotated jobs of the three cases whose policies webhook is Ignore, the expansions of the last")
		require.Equal(t, storedWant, total, "the jobs stored are those whose write succeeded")
	})
}

func formatCounts(counts map[string]int) string {
	if len(counts) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(counts))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}

func withoutKey(m map[string]int, key string) map[string]int {
	out := maps.Clone(m)
	delete(out, key)
	return out
}

// TestFaultTwoReplicas starts two `serve --cert-mode=self` replicas back to
// back with no certificate Secret yet: they settle on one CA (the Secret's,
// the webhook configurations' caBundle, and what each presents over TLS),
// and admission requests sent to each (directly, verified with the caBundle,
// and by the apiserver on kubectl apply) all succeed. Whether the second
// replica also finds no Secret is up to the scheduler: the log counts the
// creations it lost (it re-reads and adopts the winner's CA).
func TestFaultTwoReplicas(t *testing.T) {
	c := newCluster(t, "", webhook.RegistrationOptions{})
	ctx := context.Background()
	secretKey := client.ObjectKey{Namespace: "flyte-admission", Name: webhook.DefaultName + "-certs"}
	require.True(t, apierrors.IsNotFound(c.Client.Get(ctx, secretKey, &corev1.Secret{})), "the Secret must not exist yet")
	_, stderr, err := c.kubectl(t, nil, "apply", "-f", "../../examples/00-namespace.yaml")
	require.NoError(t, err, stderr)

	// The first replica on the port the webhooks point at; the second on
	// any free port (read from its log once it listens).
	ports := []int{c.Env.Env.WebhookInstallOptions.LocalServingPort, 0}
	certDirs := []string{t.TempDir(), t.TempDir()}
	replicas := make([]*serveProcess, len(ports))
	for i := range ports { // back to back: both find no Secret
		replicas[i] = c.startServe(t, ports[i], "--cert-mode", "self", "--cert-dir", certDirs[i],
			"--extra-san", "127.0.0.1", "--webhook-name", webhook.DefaultName, "--zap-log-level", "debug")
	}
	for i, r := range replicas {
		r.waitReady(t)
		if ports[i] == 0 {
			ports[i] = r.webhookPort(t)
		}
	}

	var secret corev1.Secret
	require.NoError(t, c.Client.Get(ctx, secretKey, &secret))
	caPEM := secret.Data["ca.crt"]
	cas := parseCerts(t, caPEM)
	require.Len(t, cas, 1, "one CA in the Secret's bundle")
	serving := parseCerts(t, secret.Data["tls.crt"])
	require.Len(t, serving, 1)
	bundles := func() [][]byte {
		m, v := registeredWebhooks()
		require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(m), m))
		require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(v), v))
		var out [][]byte
		for _, w := range m.Webhooks {
			out = append(out, w.ClientConfig.CABundle)
		}
		for _, w := range v.Webhooks {
			out = append(out, w.ClientConfig.CABundle)
		}
		return out
	}
	require.Eventually(t, func() bool {
		b := bundles()
		return len(b) == 3 && !slices.ContainsFunc(b, func(x []byte) bool { return !bytes.Equal(x, caPEM) })
	}, faultWait, 100*time.Millisecond, "the caBundle of every webhook (one mutating, two validating) is not the Secret's CA")
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(bundles()[0]))

	created, conflicts := 0, 0
	for i, r := range replicas {
		created += strings.Count(r.log.String(), `"msg":"updated certificates"`)
		conflicts += strings.Count(r.log.String(), `"msg":"certificate store changed concurrently, re-reading"`)
		dirCA, err := os.ReadFile(filepath.Join(certDirs[i], "ca.crt"))
		require.NoError(t, err)
		require.Equal(t, caPEM, dirCA, "replica %d's ca.crt", i)
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		require.NoError(t, err, "replica %d's certificate does not verify with the caBundle", i)
		state := conn.ConnectionState()
		conn.Close()
		require.Equal(t, serving[0].Raw, state.PeerCertificates[0].Raw, "replica %d serves the Secret's certificate", i)
		chain := state.VerifiedChains[0]
		require.Equal(t, cas[0].Raw, chain[len(chain)-1].Raw, "replica %d's chain ends at the Secret's CA", i)
	}
	t.Logf("two replicas: one CA (%s); certificate store writes: %d, lost races (re-read and adopted): %d; both serve serial %s",
		cas[0].Subject.CommonName, created, conflicts, serving[0].SerialNumber)

	// Admission reviews straight to each replica, verified with the caBundle.
	httpClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 4}}
	defer httpClient.CloseIdleConnections()
	reviews := admissionInputs(t)
	const perReplica = 200
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range replicas {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := w; n < perReplica; n += 4 {
					in := reviews[n%len(reviews)]
					sent.Add(1)
					if err := postReview(httpClient, ports[i], in); err != nil {
						failed.Add(1)
						t.Logf("replica %d, review %d: %v", i, n, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("two replicas: %d admission reviews sent directly (%d each, /mutate and /validate), %d failed",
		sent.Load(), perReplica, failed.Load())
	require.Equal(t, int64(2*perReplica), sent.Load())
	require.Zero(t, failed.Load())

	// kubectl apply through the apiserver, pointed at one replica, then the other.
	applied, applyFailed := 0, 0
	for i, r := range replicas {
		c.pointWebhooksAt(t, ports[i])
		probe := &unstructured.Unstructured{Object: deepCopyMap(reviews[0].object)}
		before := mutateRequests(t, r)
		require.Eventually(t, func() bool {
			_ = c.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
			return mutateRequests(t, r) > before
		}, faultWait, 200*time.Millisecond, "the apiserver does not call replica %d", i)
		before = mutateRequests(t, r)

		ns := fmt.Sprintf("replica-%d", i)
		_, stderr, err = c.kubectl(t, []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`), "apply", "-f", "-")
		require.NoError(t, err, stderr)
		for _, f := range jobFiles(t) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			_, stderr, err := c.kubectl(t, bytes.ReplaceAll(data, []byte("namespace: flytesnacks-development"), []byte("namespace: "+ns)), "apply", "-f", "-")
			applied++
			if err != nil {
				applyFailed++
				t.Logf("replica %d: kubectl apply %s: %s", i, f, stderr)
				continue
			}
		}
		var expanded int
		for _, j := range exampleJobs(t) {
			u := j.object()
			u.SetNamespace(ns)
			if err := c.Client.Get(ctx, client.ObjectKeyFromObject(u), u); err == nil {
				if _, ok := u.GetAnnotations()[task.ExpandedFromAnnotation]; ok {
					expanded++
				}
			}
		}
		require.Equal(t, len(jobFiles(t)), expanded, "replica %d: stored and expanded", i)
		require.GreaterOrEqual(t, mutateRequests(t, r)-before, float64(expanded), "replica %d expanded them", i)
	}
	t.Logf("two replicas: %d kubectl applies through the apiserver (%d per replica), %d failed", applied, applied/2, applyFailed)
	require.Zero(t, applyFailed)
}

func parseCerts(t *testing.T, pemData []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			return out
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		require.NoError(t, err)
		out = append(out, cert)
	}
}

// reviewInput is one admission request to send: the path and the object.
type reviewInput struct {
	path   string
	object map[string]any
}

// admissionInputs are the example skeletons for /mutate and their offline
// expansions for /validate.
func admissionInputs(t *testing.T) []reviewInput {
	t.Helper()
	var out []reviewInput
	for _, f := range jobFiles(t) {
		objs, err := objects.ReadPath(f)
		require.NoError(t, err)
		for _, o := range objs {
			out = append(out, reviewInput{webhook.MutatePath, o.Map})
		}
		for _, o := range offline(t, f) {
			out = append(out, reviewInput{webhook.ValidatePath, o})
		}
	}
	return out
}

// postReview sends in as the apiserver would (a CREATE) and checks the answer:
// allowed, for this request, with a patch from /mutate.
func postReview(hc *http.Client, port int, in reviewInput) error {
	u := unstructured.Unstructured{Object: in.object}
	raw, err := json.Marshal(in.object)
	if err != nil {
		return err
	}
	gvk := u.GroupVersionKind()
	var resource string
	for _, r := range webhook.Resources {
		if r.Group == gvk.Group {
			resource = r.Resource
		}
	}
	uid := types.UID(fmt.Sprintf("%s-%s-%d", u.GetName(), strings.Trim(in.path, "/"), time.Now().UnixNano()))
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resource},
			Namespace: u.GetNamespace(), Name: u.GetName(),
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "faults-test"},
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		return err
	}
	resp, err := hc.Post(fmt.Sprintf("https://127.0.0.1:%d%s", port, in.path), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	switch r := out.Response; {
	case r == nil:
		return errors.New("no response")
	case r.UID != uid:
		return fmt.Errorf("response for %q, not %q", r.UID, uid)
	case !r.Allowed:
		return fmt.Errorf("refused: %v", r.Result)
	case in.path == webhook.MutatePath && len(r.Patch) == 0:
		return errors.New("no patch")
	}
	return nil
}

// pointWebhooksAt makes the apiserver call the webhooks on 127.0.0.1:port.
func (c *cluster) pointWebhooksAt(t *testing.T, port int) {
	t.Helper()
	url := func(path string) *string { u := fmt.Sprintf("https://127.0.0.1:%d%s", port, path); return &u }
	m, v := registeredWebhooks()
	c.edit(t, m, func() {
		for i := range m.Webhooks {
			m.Webhooks[i].ClientConfig.URL = url(webhook.MutatePath)
		}
	})
	c.edit(t, v, func() {
		for i := range v.Webhooks {
			v.Webhooks[i].ClientConfig.URL = url(webhook.ValidatePath)
		}
	})
}

// mutateRequests is the number of /mutate requests p answered, from its
// metrics.
func mutateRequests(t *testing.T, p *serveProcess) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.probeAddr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	var n float64
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, webhook.MetricRequests+"{") && strings.Contains(line, `webhook="mutate"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			require.NoError(t, err)
			n += v
		}
	}
	return n
}
