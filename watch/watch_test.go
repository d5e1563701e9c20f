package watch_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/internal/crds"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/flyte-admission/flyte-admission/test/watchtest"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/yaml"
)

// wait is the deadline of every wait-until in these tests (a loaded 2-core
// machine); tick is how often the condition is checked.
const (
	wait = time.Minute
	tick = 50 * time.Millisecond
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard()) // the watchers log through their own loggers
	os.Exit(m.Run())
}

// link is one expected log link.
type link struct{ name, uri string }

func linksJSON(ls ...link) string {
	type entry struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	out := make([]entry, len(ls))
	for i, l := range ls {
		out[i] = entry{l.name, l.uri}
	}
	data, _ := json.Marshal(out)
	return string(data)
}

// step is one status the operator writes and what the watcher must report.
type step struct {
	status map[string]any // nil: the object as created, without status
	phase  string
	reason string
	links  []link
	// event is the Event of the transition; nil when the phase stays.
	event *watchtest.Event
}

type walk struct {
	name, file, kind string
	steps            []step
}

func ev(typ, reason, msg string) *watchtest.Event {
	return &watchtest.Event{Type: typ, Reason: reason, Message: msg}
}

const ns = "phases"

var sparkListGVK = schema.GroupVersionKind{Group: "sparkoperator.k8s.io", Version: "v1beta2", Kind: "SparkApplicationList"}

func walks() []walk {
	k8s := func(pod string) link {
		return link{"Kubernetes Logs(Driver Logs)", "http://localhost:30082/#!/log/" + ns + "/" + pod + "/pod?namespace=" + ns}
	}
	// Flyte's rendering: a template variable without a value stays as it is,
	// and every link's name ends in the log name.
	dask := func(name, pod string) []link {
		if pod == "" {
			pod = "{{ .podName }}"
		}
		return []link{
			{"Kubernetes Logs(Dask Runner Logs)", "https://k8s.example.com/#!/log/" + ns + "/" + pod + "/pod?namespace=" + ns},
			{"Dask Dashboard(Dask Runner Logs)", "https://dask.example.com/" + ns + "/" + name + "/status"},
		}
	}
	// The operator writes driverInfo (required by the CRD) from submission on.
	submitted := map[string]any{"applicationState": map[string]any{"state": "SUBMITTED"}, "driverInfo": map[string]any{}, "submissionAttempts": 1}
	withDriver := func(name string) map[string]any {
		return map[string]any{
			"applicationState": map[string]any{"state": "RUNNING"},
			"driverInfo":       map[string]any{"podName": name + "-driver", "webUIIngressAddress": "spark-ui.example.com/" + name},
		}
	}
	rayRunning := func(name string) map[string]any {
		return map[string]any{
			"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "jobId": name + "-x1",
			"rayClusterName": name + "-raycluster", "dashboardURL": name + "-head-svc." + ns + ":8265",
		}
	}
	return []walk{
		{name: "SparkApplication completes", file: "spark-pi.yaml", kind: "SparkApplication", steps: []step{
			{phase: "Queued", reason: "job queued", event: ev("Normal", "Queued", "job queued")},
			{status: submitted,
				phase: "Initializing", reason: "job submitted", event: ev("Normal", "Initializing", "job submitted")},
			{status: withDriver("spark-ok"), phase: "Running",
				links: []link{k8s("spark-ok-driver"), {"Spark Driver UI", "https://spark-ui.example.com/spark-ok"}},
				event: ev("Normal", "Running", "Flyte task phase Running (was Initializing)")},
			{status: map[string]any{"applicationState": map[string]any{"state": "COMPLETED"}, "sparkApplicationId": "spark-0001",
				"terminationTime": "2026-01-02T03:04:05Z"}, phase: "Success",
				links: []link{k8s("spark-ok-driver"), {"Spark History UI", "https://spark-history.example.com/history/spark-0001"}},
				event: ev("Normal", "Success", "Flyte task phase Success (was Running)")},
		}},
		{name: "SparkApplication fails", file: "spark-pi.yaml", kind: "SparkApplication", steps: []step{
			{phase: "Queued", reason: "job queued", event: ev("Normal", "Queued", "job queued")},
			{status: submitted,
				phase: "Initializing", reason: "job submitted", event: ev("Normal", "Initializing", "job submitted")},
			{status: withDriver("spark-ko"), phase: "Running",
				links: []link{k8s("spark-ko-driver"), {"Spark Driver UI", "https://spark-ui.example.com/spark-ko"}},
				event: ev("Normal", "Running", "Flyte task phase Running (was Initializing)")},
			{status: map[string]any{"applicationState": map[string]any{"state": "FAILED", "errorMessage": "driver OOMKilled"}},
				phase: "RetryableFailure", reason: "Spark Job Failed with Error: driver OOMKilled",
				links: []link{k8s("spark-ko-driver")},
				event: ev("Warning", "RetryableFailure", "Spark Job Failed with Error: driver OOMKilled")},
		}},
		{name: "RayJob completes", file: "ray-train.yaml", kind: "RayJob", steps: []step{
			{phase: "Queued", reason: "Scheduling", event: ev("Normal", "Queued", "Scheduling")},
			{status: map[string]any{"jobDeploymentStatus": "Initializing"},
				phase: "Initializing", reason: "cluster is creating", event: ev("Normal", "Initializing", "cluster is creating")},
			{status: rayRunning("ray-ok"), phase: "Running",
				links: []link{{"Ray Dashboard", "https://ray.example.com/" + ns + "/ray-ok/"}},
				event: ev("Normal", "Running", "Flyte task phase Running (was Initializing)")},
			{status: map[string]any{"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, phase: "Success",
				event: ev("Normal", "Success", "Flyte task phase Success (was Running)")},
		}},
		{name: "RayJob fails", file: "ray-train.yaml", kind: "RayJob", steps: []step{
			{phase: "Queued", reason: "Scheduling", event: ev("Normal", "Queued", "Scheduling")},
			{status: map[string]any{"jobDeploymentStatus": "Initializing"},
				phase: "Initializing", reason: "cluster is creating", event: ev("Normal", "Initializing", "cluster is creating")},
			{status: rayRunning("ray-ko"), phase: "Running",
				links: []link{{"Ray Dashboard", "https://ray.example.com/" + ns + "/ray-ko/"}},
				event: ev("Normal", "Running", "Flyte task phase Running (was Initializing)")},
			{status: map[string]any{"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed", "message": "exit code 1"},
				phase: "RetryableFailure", reason: "Failed to run Ray job ray-ko with error: [AppFailed] exit code 1",
				event: ev("Warning", "RetryableFailure", "Failed to run Ray job ray-ko with error: [AppFailed] exit code 1")},
		}},
		{name: "DaskJob completes", file: "dask-basic.yaml", kind: "DaskJob", steps: []step{
			{phase: "Initializing", reason: "unknown", links: dask("dask-ok", ""), event: ev("Normal", "Initializing", "unknown")},
			{status: map[string]any{"jobStatus": "JobCreated"}, phase: "Initializing", reason: "job created", links: dask("dask-ok", "")},
			{status: map[string]any{"jobStatus": "ClusterCreated", "clusterName": "dask-ok"},
				phase: "Initializing", reason: "cluster created", links: dask("dask-ok", "")},
			{status: map[string]any{"jobStatus": "Running", "jobRunnerPodName": "dask-ok-runner", "startTime": "2026-01-02T03:04:05Z"},
				phase: "Running", links: dask("dask-ok", "dask-ok-runner"),
				event: ev("Normal", "Running", "Flyte task phase Running (was Initializing)")},
			{status: map[string]any{"jobStatus": "Successful", "endTime": "2026-01-02T04:04:05Z"}, phase: "Success",
				links: dask("dask-ok", "dask-ok-runner"), event: ev("Normal", "Success", "Flyte task phase Success (was Running)")},
		}},
		{name: "DaskJob fails", file: "dask-basic.yaml", kind: "DaskJob", steps: []step{
			{phase: "Initializing", reason: "unknown", links: dask("dask-ko", ""), event: ev("Normal", "Initializing", "unknown")},
			{status: map[string]any{"jobStatus": "JobCreated"}, phase: "Initializing", reason: "job created", links: dask("dask-ko", "")},
			{status: map[string]any{"jobStatus": "ClusterCreated", "clusterName": "dask-ko"},
				phase: "Initializing", reason: "cluster created", links: dask("dask-ko", "")},
			{status: map[string]any{"jobStatus": "Running", "jobRunnerPodName": "dask-ko-runner", "startTime": "2026-01-02T03:04:05Z"},
				phase: "Running", links: dask("dask-ko", "dask-ko-runner"),
				event: ev("Normal", "Running", "Flyte task phase Running (was Initializing)")},
			{status: map[string]any{"jobStatus": "Failed", "endTime": "2026-01-02T04:04:05Z"}, phase: "RetryableFailure",
				reason: "Dask Job failed", links: dask("dask-ko", "dask-ko-runner"),
				event: ev("Warning", "RetryableFailure", "Dask Job failed")},
		}},
	}
}

// objName is the walk's object name: spark-ok, ray-ko, ...
func objName(w walk) string {
	prefix := map[string]string{"SparkApplication": "spark", "RayJob": "ray", "DaskJob": "dask"}[w.kind]
	if strings.HasSuffix(w.name, "fails") {
		return prefix + "-ko"
	}
	return prefix + "-ok"
}

var phases = []string{"Queued", "Initializing", "Running", "Success", "RetryableFailure"}

func TestWatcher(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	cfg := watchtest.PluginConfig(t)
	scheme := watchtest.NewScheme(t)
	wopts := watch.Options{Config: func() *config.Config { return cfg }}
	c := env.Client
	ctx := context.Background()

	t.Run("phases", func(t *testing.T) {
		watchtest.Namespace(t, c, ns)
		w := watchtest.Start(t, env.Config, watchtest.ManagerOptions(scheme), wopts)
		defer w.Stop()
		for _, wk := range walks() {
			t.Run(wk.name, func(t *testing.T) { runWalk(t, c, cfg, wk) })
		}
		t.Run("unchanged status writes nothing", func(t *testing.T) { unchangedStatus(t, c, cfg, w) })
	})

	t.Run("unannotated objects are left alone unless All", func(t *testing.T) {
		const ns = "unannotated"
		watchtest.Namespace(t, c, ns)
		plain := watchtest.Expanded(t, cfg, "spark-pi.yaml", ns, "plain")
		ann := plain.GetAnnotations()
		delete(ann, task.TemplateAnnotation)
		plain.SetAnnotations(ann)
		sentinel := watchtest.Expanded(t, cfg, "spark-pi.yaml", ns, "sentinel")

		w := watchtest.Start(t, env.Config, watchtest.ManagerOptions(scheme), wopts)
		require.NoError(t, c.Create(ctx, plain))
		require.NoError(t, c.Create(ctx, sentinel))
		running := map[string]any{"applicationState": map[string]any{"state": "RUNNING"}, "driverInfo": map[string]any{}}
		require.NoError(t, watchtest.PatchStatus(ctx, c, plain, running))
		require.NoError(t, watchtest.PatchStatus(ctx, c, sentinel, running))
		waitPhase(t, c, sentinel, "Running")
		// Events of one informer are handled in order: the plain object's
		// were filtered out before the sentinel's were handled.
		got, err := watchtest.Reported(ctx, c, plain)
		require.NoError(t, err)
		require.Empty(t, got, "an unannotated object was reported")
		w.Stop()

		all := wopts
		all.All = true
		w = watchtest.Start(t, env.Config, watchtest.ManagerOptions(scheme), all)
		defer w.Stop()
		waitPhase(t, c, plain, "Running")
	})

	t.Run("a CRD installed after the watcher starts is watched", func(t *testing.T) {
		const ns = "late-crd"
		watchtest.Namespace(t, c, ns)
		crd := daskJobCRD(t)
		require.NoError(t, c.Delete(ctx, crd.DeepCopy()))
		require.Eventually(t, func() bool {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{}))
		}, wait, tick, "the DaskJob CRD was not deleted")

		w := watchtest.Start(t, env.Config, watchtest.ManagerOptions(scheme), wopts)
		defer w.Stop()
		spark := watchtest.Expanded(t, cfg, "spark-pi.yaml", ns, "spark-first")
		require.NoError(t, c.Create(ctx, spark))
		waitPhase(t, c, spark, "Queued") // the watcher runs, without DaskJobs

		require.NoError(t, c.Create(ctx, crd))
		dj := watchtest.Expanded(t, cfg, "dask-basic.yaml", ns, "dask-late")
		require.Eventually(t, func() bool { return c.Create(ctx, dj.DeepCopy()) == nil }, wait, tick, "DaskJob not creatable")
		waitPhase(t, c, dj, "Initializing")
		require.NoError(t, watchtest.PatchStatus(ctx, c, dj, map[string]any{"jobStatus": "Running"}))
		waitPhase(t, c, dj, "Running")
	})

	t.Run("one leader reports; the other takes over when it stops", func(t *testing.T) {
		const ns = "leader"
		watchtest.Namespace(t, c, ns)
		mopts := watchtest.ManagerOptions(scheme)
		mopts.LeaderElection = true
		mopts.LeaderElectionID = "flyte-admission-watch-test"
		mopts.LeaderElectionNamespace = ns
		mopts.LeaseDuration = ptr.To(4 * time.Second)
		mopts.RenewDeadline = ptr.To(3 * time.Second)
		mopts.RetryPeriod = ptr.To(500 * time.Millisecond)
		a := watchtest.Start(t, env.Config, mopts, wopts)
		b := watchtest.Start(t, env.Config, mopts, wopts)
		var leader, follower *watchtest.Watcher
		select {
		case <-a.Elected():
			leader, follower = a, b
		case <-b.Elected():
			leader, follower = b, a
		case <-time.After(wait):
			t.Fatal("no watcher was elected")
		}
		select {
		case <-follower.Elected():
			t.Fatal("both watchers are leaders")
		default:
		}

		rj := watchtest.Expanded(t, cfg, "ray-train.yaml", ns, "ray-leader")
		require.NoError(t, c.Create(ctx, rj))
		waitPhase(t, c, rj, "Queued")
		require.Positive(t, leader.Reports.Load())
		require.Zero(t, follower.Reports.Load(), "the follower reported")

		leader.Stop() // without releasing the lease: the follower waits for it to expire
		select {
		case <-follower.Elected():
		case <-time.After(wait):
			t.Fatal("the follower did not take over")
		}
		obs := watchtest.Observe(t, env.Config, rj.GroupVersionKind(), ns)
		wrote := time.Now()
		require.NoError(t, watchtest.PatchStatus(ctx, c, rj, map[string]any{"jobDeploymentStatus": "Initializing"}))
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		seen, err := obs.Wait(waitCtx, client.ObjectKeyFromObject(rj), "Initializing")
		require.NoError(t, err)
		t.Logf("new leader: status write to phase report in %s", seen.Sub(wrote).Round(time.Millisecond))
		require.Positive(t, follower.Reports.Load())
	})

	t.Run("memory", func(t *testing.T) { memory(t, env, cfg, scheme, wopts) })
}

func runWalk(t *testing.T, c client.Client, cfg *config.Config, wk walk) {
	ctx := context.Background()
	name := objName(wk)
	obj := watchtest.Expanded(t, cfg, wk.file, ns, name)
	kind := map[string]string{"kind": wk.kind}
	var events []watchtest.Event
	prev := watch.NoPhase
	for i, s := range wk.steps {
		transitionsBefore := watchtest.Metric(t, watch.MetricTransitions, map[string]string{"kind": wk.kind, "from": prev, "to": s.phase})
		runningBefore := watchtest.Metric(t, watch.MetricTimeToRunning, kind)
		terminalBefore := watchtest.Metric(t, watch.MetricTimeToTerminal, kind)
		if i == 0 {
			require.Nil(t, s.status, "the first step is the creation")
			require.NoError(t, c.Create(ctx, obj))
		} else {
			require.NoError(t, watchtest.PatchStatus(ctx, c, obj, s.status))
		}
		want := map[string]string{
			watch.PhaseAnnotation:       s.phase,
			watch.PhaseReasonAnnotation: s.reason,
			watch.LogLinksAnnotation:    linksJSON(s.links...),
		}
		if s.event != nil {
			events = append(events, *s.event)
		}
		changed := s.phase != prev
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			got, err := watchtest.Reported(ctx, c, obj)
			if !assert.NoError(ct, err) {
				return
			}
			assert.Equal(ct, want, got, "annotations")
			evs, err := watchtest.Events(ctx, c, ns, name)
			if assert.NoError(ct, err) {
				assert.Equal(ct, events, evs, "events")
			}
			for _, p := range phases {
				n := 0.0
				if p == s.phase {
					n = 1
				}
				assert.Equal(ct, n, watchtest.Metric(t, watch.MetricObjects, map[string]string{"kind": wk.kind, "phase": p}), "objects gauge of %s", p)
			}
			if changed {
				assert.Equal(ct, transitionsBefore+1, watchtest.Metric(t, watch.MetricTransitions,
					map[string]string{"kind": wk.kind, "from": prev, "to": s.phase}), "transitions %s -> %s", prev, s.phase)
			}
			wantRunning, wantTerminal := runningBefore, terminalBefore
			if changed && s.phase == "Running" {
				wantRunning++
			}
			if changed && (s.phase == "Success" || s.phase == "RetryableFailure") {
				wantTerminal++
			}
			assert.Equal(ct, wantRunning, watchtest.Metric(t, watch.MetricTimeToRunning, kind), "time to running samples")
			assert.Equal(ct, wantTerminal, watchtest.Metric(t, watch.MetricTimeToTerminal, kind), "time to terminal samples")
		}, wait, tick, "step %d (%s)", i, s.phase)
		prev = s.phase
	}

	// Deleting the object takes it out of the gauge.
	require.NoError(t, c.Delete(ctx, obj))
	require.Eventually(t, func() bool {
		return watchtest.Metric(t, watch.MetricObjects, map[string]string{"kind": wk.kind}) == 0
	}, wait, tick, "the deleted object stays in the objects gauge")
	require.Zero(t, watchtest.Metric(t, watch.MetricReconcileErrors, kind))
}

// unchangedStatus writes a status change that maps to the same phase,
// reason and links: the watcher reconciles and writes nothing.
func unchangedStatus(t *testing.T, c client.Client, cfg *config.Config, w *watchtest.Watcher) {
	ctx := context.Background()
	obj := watchtest.Expanded(t, cfg, "spark-pi.yaml", ns, "spark-same")
	require.NoError(t, c.Create(ctx, obj))
	running := map[string]any{
		"applicationState": map[string]any{"state": "RUNNING"},
		"driverInfo":       map[string]any{"podName": "spark-same-driver"},
	}
	require.NoError(t, watchtest.PatchStatus(ctx, c, obj, running))
	waitPhase(t, c, obj, "Running")
	before, err := watchtest.Reported(ctx, c, obj)
	require.NoError(t, err)

	reconciles := map[string]string{"controller": watch.ControllerName + "-sparkapplication"}
	n := watchtest.Metric(t, "controller_runtime_reconcile_total", reconciles)
	patches := w.Reports.Load()
	require.NoError(t, watchtest.PatchStatus(ctx, c, obj, map[string]any{
		"executorState": map[string]any{"spark-same-exec-1": "RUNNING", "spark-same-exec-2": "RUNNING"},
	}))
	rv := obj.GetResourceVersion() // after the operator's write
	require.Eventually(t, func() bool {
		return watchtest.Metric(t, "controller_runtime_reconcile_total", reconciles) > n
	}, wait, tick, "the status change was not reconciled")
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(obj.GroupVersionKind())
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(obj), got))
	require.Equal(t, patches, w.Reports.Load(), "the watcher patched an unchanged report")
	require.Equal(t, rv, got.GetResourceVersion(), "the watcher wrote an unchanged report")
	after, err := watchtest.Reported(ctx, c, obj)
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.NoError(t, c.Delete(ctx, obj))
}

func waitPhase(t *testing.T, c client.Client, obj client.Object, phase string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		got, err := watchtest.Reported(context.Background(), c, obj)
		if assert.NoError(ct, err) {
			assert.Equal(ct, phase, got[watch.PhaseAnnotation])
		}
	}, wait, tick, "%s never reported %s", obj.GetName(), phase)
}

// daskJobCRD reads the DaskJob CRD from the operator module.
func daskJobCRD(t *testing.T) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := crds.Files(builtin.CRDs())
	require.NoError(t, err)
	for _, f := range files {
		if filepath.Base(f) != "daskjob.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, yaml.Unmarshal(data, crd))
		crd.ObjectMeta = metav1.ObjectMeta{Name: crd.Name, Labels: crd.Labels, Annotations: crd.Annotations}
		return crd
	}
	t.Fatal("no daskjob.yaml among the CRD files")
	return nil
}

// memory measures the heap a watch of 1,000 SparkApplications costs, with
// and without the cache transform.
func memory(t *testing.T, env *testenv.Env, cfg *config.Config, scheme *k8sruntime.Scheme, wopts watch.Options) {
	const ns, n = "memory", 1000
	c := env.Client
	ctx := context.Background()
	watchtest.Namespace(t, c, ns)

	reported := func() float64 {
		return watchtest.Metric(t, watch.MetricObjects, map[string]string{"kind": "SparkApplication"})
	}
	heap := func() (inuse, alloc uint64) {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse, m.HeapAlloc
	}
	// measure runs a watcher until it reports every annotated
	// SparkApplication and returns the heap growth.
	measure := func(name string, mopts manager.Options) (inuse, alloc int64) {
		var list unstructured.UnstructuredList
		list.SetGroupVersionKind(sparkListGVK)
		require.NoError(t, c.List(ctx, &list))
		want := 0.0
		for _, o := range list.Items {
			if _, ok := o.GetAnnotations()[task.TemplateAnnotation]; ok {
				want++
			}
		}
		list = unstructured.UnstructuredList{}
		i0, a0 := heap()
		w := watchtest.Start(t, env.Config, mopts, wopts)
		require.Eventually(t, func() bool { return reported() == want }, 5*time.Minute, 100*time.Millisecond, "%s: not all objects reported", name)
		i1, a1 := heap()
		w.Stop()
		inuse, alloc = int64(i1)-int64(i0), int64(a1)-int64(a0)
		t.Logf("%s: %.0f SparkApplications watched: heap in use %.1f MiB (+%.1f), live heap %.1f MiB (+%.1f)",
			name, want, float64(i1)/(1<<20), float64(inuse)/(1<<20), float64(a1)/(1<<20), float64(alloc)/(1<<20))
		return inuse, alloc
	}

	fixedInuse, fixedAlloc := measure("transform, no memory objects", watchtest.ManagerOptions(scheme))
	proto := watchtest.Expanded(t, cfg, "spark-pi.yaml", ns, "proto")
	began := time.Now()
	watchtest.CreateMany(t, c, proto, "job", n, 8)
	t.Logf("created %d SparkApplications in %s", n, time.Since(began).Round(time.Millisecond))

	inuse, alloc := measure("transform", watchtest.ManagerOptions(scheme))
	full := watchtest.ManagerOptions(scheme)
	full.Cache = cache.Options{}
	fullInuse, fullAlloc := measure("no transform", full)
	t.Logf("per %d objects: heap in use %.1f MiB (live %.1f MiB) with the transform, %.1f MiB (live %.1f MiB) without",
		n, float64(inuse-fixedInuse)/(1<<20), float64(alloc-fixedAlloc)/(1<<20),
		float64(fullInuse-fixedInuse)/(1<<20), float64(fullAlloc-fixedAlloc)/(1<<20))
	require.Less(t, alloc, fullAlloc, "the transform does not save memory")
}
