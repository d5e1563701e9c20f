// Package watchtest runs the status watcher against a real control plane
// (test/testenv) for tests and benchmarks: expanded example objects, a
// watcher manager that can be stopped, status writes as the operators make
// them, and readers of the annotations, Events and metrics the watcher
// reports.
package watchtest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Root is the module's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// PluginConfig loads the examples' plugin configuration
// (examples/config/plugins.yaml: Spark history server, Ray dashboard and Dask
// log templates).
func PluginConfig(tb testing.TB) *config.Config {
	tb.Helper()
	cfg, err := config.Load(filepath.Join(Root(), "examples", "config", "plugins.yaml"))
	require.NoError(tb, err)
	return cfg
}

// Expanded reads the first object of examples/<file>, renames it to
// namespace/name and expands it offline as the mutating webhook would.
func Expanded(tb testing.TB, cfg *config.Config, file, namespace, name string) *unstructured.Unstructured {
	tb.Helper()
	objs, err := objects.ReadPath(filepath.Join(Root(), "examples", file))
	require.NoError(tb, err)
	require.NotEmpty(tb, objs, file)
	skeleton := objs[0].Map
	meta, _ := skeleton["metadata"].(map[string]any)
	require.NotNil(tb, meta, "%s has no metadata", file)
	meta["name"], meta["namespace"] = name, namespace
	x := &expand.Expander{Registry: builtin.Registry(), Env: plugins.Env{Config: cfg, Templates: objects.PodTemplates{}}}
	res, err := x.Expand(context.Background(), skeleton, nil)
	require.NoError(tb, err, file)
	return &unstructured.Unstructured{Object: expand.Plain(res.Object())}
}

// Namespace creates namespace name (an existing one is fine).
func Namespace(tb testing.TB, c client.Client, name string) {
	tb.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	require.NoError(tb, client.IgnoreAlreadyExists(c.Create(context.Background(), ns)))
}

// CreateMany creates n copies of proto named <prefix>-<i> in proto's
// namespace, with workers concurrent requests, and returns their keys.
func CreateMany(tb testing.TB, c client.Client, proto *unstructured.Unstructured, prefix string, n, workers int) []client.ObjectKey {
	tb.Helper()
	keys := make([]client.ObjectKey, n)
	for i := range keys {
		keys[i] = client.ObjectKey{Namespace: proto.GetNamespace(), Name: fmt.Sprintf("%s-%d", prefix, i)}
	}
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	next := make(chan client.ObjectKey)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				obj := proto.DeepCopy()
				obj.SetName(k.Name)
				if err := c.Create(ctx, obj); err != nil {
					errs <- fmt.Errorf("create %s: %w", k, err)
					cancel()
					return
				}
			}
		}()
	}
	for _, k := range keys {
		select {
		case next <- k:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(tb, err)
	}
	return keys
}

// NewScheme returns a scheme with everything the watcher reads (watch.AddToScheme).
func NewScheme(tb testing.TB) *k8sruntime.Scheme {
	tb.Helper()
	s := k8sruntime.NewScheme()
	require.NoError(tb, watch.AddToScheme(s))
	return s
}

// ManagerOptions are the manager options of a watcher under test: the
// watcher's cache options, no metrics or probe listeners (metrics are read
// from the registry), no leader election (set it to test it), and no
// process-wide controller name check (tests start many managers).
func ManagerOptions(scheme *k8sruntime.Scheme) manager.Options {
	return manager.Options{
		Scheme:                 scheme,
		Cache:                  watch.CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	}
}

// Watcher is a running watcher manager.
type Watcher struct {
	Manager manager.Manager
	// Reports counts the annotation patches this watcher sent (counted
	// before each request, so a report seen on the object is counted).
	Reports atomic.Int64

	tb       testing.TB
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	quiet    atomic.Bool
}

// Start creates a manager with mopts, sets the watcher up on it with wopts
// and runs it until Stop (or the end of the test). Unless wopts.Log is set,
// the watcher's log counts the reports in Reports and passes errors and
// "watching kind" lines to tb.Logf; mopts.Logger defaults to the same log.
func Start(tb testing.TB, cfg *rest.Config, mopts manager.Options, wopts watch.Options) *Watcher {
	tb.Helper()
	w := &Watcher{tb: tb, done: make(chan error, 1)}
	if wopts.Log.GetSink() == nil {
		wopts.Log = w.logger()
	}
	if mopts.Logger.GetSink() == nil {
		mopts.Logger = wopts.Log
	}
	mgr, err := manager.New(cfg, mopts)
	require.NoError(tb, err)
	require.NoError(tb, watch.Setup(mgr, wopts))
	w.Manager = mgr
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- mgr.Start(ctx) }()
	tb.Cleanup(w.Stop)
	return w
}

func (w *Watcher) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		if strings.Contains(args, `"msg"="reporting phase"`) {
			w.Reports.Add(1)
			return
		}
		if w.quiet.Load() {
			return
		}
		if strings.Contains(args, `"error"=`) || strings.Contains(args, `"msg"="watching kind"`) {
			w.tb.Logf("watcher: %s %s", prefix, args)
		}
	}, funcr.Options{Verbosity: 1})
}

// Stop stops the manager and waits for it (at most a minute); a manager
// error fails the test. Stop is idempotent.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() {
		w.cancel()
		select {
		case err := <-w.done:
			if err != nil {
				w.tb.Errorf("watcher manager: %v", err)
			}
		case <-time.After(time.Minute):
			w.tb.Errorf("watcher manager did not stop within a minute")
		}
		w.quiet.Store(true) // late event-broadcaster logs must not reach a finished test
	})
}

// Elected is closed when the watcher's manager becomes the leader (at once
// without leader election).
func (w *Watcher) Elected() <-chan struct{} { return w.Manager.Elected() }

// PatchStatus writes status into obj's status subresource with a JSON merge
// patch, as an operator would.
func PatchStatus(ctx context.Context, c client.Client, obj client.Object, status map[string]any) error {
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	return c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, data))
}

// Reported returns the watcher's annotations on the stored object (fresh
// from the apiserver); missing ones are absent from the map.
func Reported(ctx context.Context, c client.Client, obj client.Object) (map[string]string, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), u); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range []string{watch.PhaseAnnotation, watch.PhaseReasonAnnotation, watch.LogLinksAnnotation} {
		if v, ok := u.GetAnnotations()[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// Event is the part of a core/v1 Event the tests compare.
type Event struct {
	Type, Reason, Message string
}

// Events returns the core/v1 Events about namespace/name, oldest first.
func Events(ctx context.Context, c client.Client, namespace, name string) ([]Event, error) {
	var list corev1.EventList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{"involvedObject.name": name}); err != nil {
		return nil, err
	}
	items := list.Items
	sort.SliceStable(items, func(i, j int) bool { return eventTime(&items[i]).Before(eventTime(&items[j])) })
	out := make([]Event, len(items))
	for i, e := range items {
		out[i] = Event{Type: e.Type, Reason: e.Reason, Message: e.Message}
	}
	return out, nil
}

func eventTime(e *corev1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	if !e.FirstTimestamp.IsZero() {
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// Metric sums, over the series of the named metric on controller-runtime's
// registry whose labels include labels, the counter or gauge values or the
// histogram sample counts. A metric without such series is 0.
func Metric(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	v, _ := metricSums(tb, name, labels)
	return v
}

// HistogramSum is like Metric for the sum of a histogram's samples.
func HistogramSum(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	_, s := metricSums(tb, name, labels)
	return s
}

func metricSums(tb testing.TB, name string, labels map[string]string) (value, sum float64) {
	tb.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(tb, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				value += m.GetCounter().GetValue()
			case m.Gauge != nil:
				value += m.GetGauge().GetValue()
			case m.Histogram != nil:
				value += float64(m.GetHistogram().GetSampleCount())
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return value, sum
}

// Observer records when each object's flyte.org/phase annotation first took
// each value, from a metadata-only watch (for lag measurements: status
// write → phase report).
type Observer struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every new observation
	seen    map[observation]time.Time
	err     error
}

type observation struct {
	key   client.ObjectKey
	phase string
}

// Observe watches the metadata of the objects of gvk in namespace ("" for
// all) until the test ends.
func Observe(tb testing.TB, cfg *rest.Config, gvk schema.GroupVersionKind, namespace string) *Observer {
	tb.Helper()
	c, err := client.NewWithWatch(cfg, client.Options{})
	require.NoError(tb, err)
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Watch(ctx, list, client.InNamespace(namespace))
	if err != nil {
		cancel()
		require.NoError(tb, err)
	}
	o := &Observer{changed: make(chan struct{}), seen: map[observation]time.Time{}}
	done := make(chan struct{})
	tb.Cleanup(func() {
		cancel()
		w.Stop()
		<-done
	})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			now := time.Now()
			m, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				if st, isStatus := ev.Object.(*metav1.Status); isStatus {
					o.fail(fmt.Errorf("watch %s: %s", gvk.Kind, st.Message))
				}
				continue
			}
			phase, ok := m.GetAnnotations()[watch.PhaseAnnotation]
			if !ok {
				continue
			}
			o.note(observation{client.ObjectKeyFromObject(m), phase}, now)
		}
	}()
	return o
}

func (o *Observer) note(obs observation, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.seen[obs]; ok {
		return
	}
	o.seen[obs] = at
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *Observer) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.err = err
	close(o.changed)
	o.changed = make(chan struct{})
}

// When returns when key's phase annotation was first seen as phase.
func (o *Observer) When(key client.ObjectKey, phase string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.seen[observation{key, phase}]
	return at, ok
}

// Wait blocks until key's phase annotation is seen as phase (or ctx ends)
// and returns when it was first seen.
func (o *Observer) Wait(ctx context.Context, key client.ObjectKey, phase string) (time.Time, error) {
	for {
		o.mu.Lock()
		at, ok := o.seen[observation{key, phase}]
		err, changed := o.err, o.changed
		o.mu.Unlock()
		switch {
		case ok:
			return at, nil
		case err != nil:
			return time.Time{}, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s never reported %s: %w", key, phase, ctx.Err())
		}
	}
}
