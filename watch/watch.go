// Package watch reports the Flyte task phase of SparkApplications, RayJobs and
// DaskJobs.
//
// It is a controller-runtime controller (Flyte's GetTaskPhase, re-built for
// plain Kubernetes): on every status change of an object carrying the
// flyte.org/task-template annotation it maps the status to a Flyte phase with
// the kind's plugin and reports it
//
//   - as three annotations on the object, flyte.org/phase,
//     flyte.org/phase-reason and flyte.org/log-links, written with a JSON merge
//     patch of metadata.annotations only, and only when one of them changes
//     (no update storms, no resourceVersion churn);
//   - as a Kubernetes Event on each phase transition (Normal for progress and
//     success, Warning for failures; reason = the Flyte phase);
//   - as Prometheus metrics on controller-runtime's metrics.Registry (see
//     metrics.go for the names).
//
// Setup adds one controller that watches CustomResourceDefinitions and, once
// the CRD of a plugin's kind is Established, one reconciler for that kind: a
// kind is watched as soon as its CRD is installed, with no restart. Every
// controller needs leader election (the manager's), so several replicas are
// safe.
//
// # Memory
//
// The manager's cache must be built with CacheOptions: its transform keeps of
// each watched object only what Phase reads (name, namespace, uid,
// resourceVersion, generation, creationTimestamp, labels, owner references,
// the flyte.org/* annotations and the status), dropping the spec,
// managedFields and kubectl's last-applied-configuration; CRDs are cached
// without their schemas.
//
// What a watch of N objects costs, measured on the real apiserver
// (TestWatcher/memory: 1,000 expanded SparkApplications of
// examples/spark-pi.yaml, 4.4 KB of JSON each, 1.5 KB after the transform,
// heap read with runtime.ReadMemStats after the cache synced and every object
// was reported): the heap in use grows by about 13-16 MiB per 1,000 objects,
// of which about 6 MiB is live (per object: the typed object, about 2 KB
// even with its spec zeroed, the annotations, about 1 KB here, mostly the
// task template, and the informer's and the watcher's entries; the rest is
// allocator fragmentation left by decoding the full objects). Without the
// transform: about 24 MiB in use, 28 MiB live. Budget N × 15 KiB of heap in
// use plus a few MiB for the manager; objects with larger task templates
// cost their annotations' size more.
//
// As a process (test/bench/watch: `flyte-admission serve --webhook=false`
// with 5,000 expanded SparkApplications, RayJobs and DaskJobs, after every
// initial phase was reported): VmRSS about 95 MiB, of which about 30 MiB is
// the binary's mapped code and about 30 MiB the live heap (mostly the cached
// objects, about 4 KiB each); the rest is the garbage collector's headroom
// (GOGC=100) and freed pages not yet returned to the system. --memory-limit
// (a soft limit for the Go runtime, like GOMEMLIMIT) trades that headroom for
// garbage-collection CPU: 64Mi kept the same watch at about 88 MiB.
//
// Two choices keep the per-report cost down: the annotation patch goes
// through the metadata client (the apiserver answers with metadata only, not
// the whole object for the watcher to decode and drop), and Events are
// written from a bounded queue (eventSink) rather than client-go's
// events.k8s.io broadcaster, which keeps every Event for 6-12 minutes and a
// goroutine per Event waiting for the rate limiter — 15 MiB of stacks and
// 6 MiB of Events when 5,000 objects reported at once.
package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Annotations the watcher writes.
const (
	// PhaseAnnotation is the mapped Flyte phase (plugins.Phase*).
	PhaseAnnotation = "flyte.org/phase"
	// PhaseReasonAnnotation is the phase's reason, or its message when the
	// reason is empty (failures carry only a message).
	PhaseReasonAnnotation = "flyte.org/phase-reason"
	// LogLinksAnnotation is the task's log links as a JSON list of
	// {"name", "uri"}.
	LogLinksAnnotation = "flyte.org/log-links"
)

// Names under which the watcher appears in the cluster.
const (
	// ControllerName prefixes the controllers' names (the controller label of
	// controller-runtime's metrics): ControllerName+"-crds" watches the CRDs,
	// ControllerName+"-"+lower(kind) each kind.
	ControllerName = "flyte-admission-watch"
	// FieldManager is the field manager of the annotation patches.
	FieldManager = "flyte-admission-watch"
	// EventSource is the reporting controller of the Events.
	EventSource = "flyte-admission-watch"
	// EventAction is the action of the Events (events.k8s.io/v1).
	EventAction = "ReportPhase"
)

// DefaultMaxConcurrentReconciles is the number of objects of one kind
// reconciled at once unless Options says otherwise.
const DefaultMaxConcurrentReconciles = 4

// Options configures Setup. The zero value watches the built-in kinds with
// the default plugin configuration.
type Options struct {
	// Registry holds the plugins whose kinds are watched; nil means
	// builtin.Registry().
	Registry *plugins.Registry
	// Config returns the current plugin configuration (log templates, Spark
	// history server); it is called on every reconcile, so a hot-reloaded
	// configuration applies from the next status change. nil means
	// config.Default.
	Config func() *config.Config
	// All also watches objects without the flyte.org/task-template
	// annotation (by default they are left alone).
	All bool
	// Now is the clock (time to Running/terminal, Ray log times); nil means
	// time.Now.
	Now func() time.Time
	// Log receives the watcher's logs ("reporting phase" at V(1) before every
	// patch); the zero value means the manager's logger named "watch".
	Log logr.Logger
	// MaxConcurrentReconciles per kind; 0 means
	// DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
}

func (o *Options) setDefaults(mgr manager.Manager) {
	if o.Registry == nil {
		o.Registry = builtin.Registry()
	}
	if o.Config == nil {
		def := config.Default()
		o.Config = func() *config.Config { return def }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log.GetSink() == nil {
		o.Log = mgr.GetLogger().WithName("watch")
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
}

// Phaser is what the watcher needs of a plugin: Flyte's GetTaskPhase with
// the task's log links. The watcher watches the kinds of the registry's
// Phasers.
type Phaser interface {
	plugins.Plugin
	Phase(obj client.Object, cfg *config.Config, now time.Time) plugins.PhaseInfo
}

// SchemeAdder is a plugin that registers its kind's API group in a scheme
// (the group's generated AddToScheme).
type SchemeAdder interface {
	AddToScheme(s *runtime.Scheme) error
}

// AddToScheme registers what the watcher reads and writes: the core types
// (Events), apiextensions/v1 (CRDs) and the API groups of the built-in
// plugins' kinds. The manager's scheme must have them.
func AddToScheme(s *runtime.Scheme) error {
	for name, add := range map[string]func(*runtime.Scheme) error{
		"client-go":        clientgoscheme.AddToScheme,
		"apiextensions/v1": apiextensionsv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return fmt.Errorf("register %s types: %w", name, err)
		}
	}
	for _, p := range builtin.Registry().Plugins() {
		a, ok := p.(SchemeAdder)
		if !ok {
			continue
		}
		if err := a.AddToScheme(s); err != nil {
			return fmt.Errorf("register %s types: %w", p.Kind().GroupVersion(), err)
		}
	}
	return nil
}

// Setup adds the watcher to mgr: a controller on CustomResourceDefinitions
// that starts one reconciler per plugin kind once that kind's CRD is
// Established (at start, or whenever it is installed later). All of them run
// only on the elected leader. mgr's cache should be built with
// CacheOptions and its scheme must know the plugins' kinds (AddToScheme).
func Setup(mgr manager.Manager, opts Options) error {
	if mgr == nil {
		return errors.New("watch: nil manager")
	}
	opts.setDefaults(mgr)
	if err := registerMetrics(); err != nil {
		return fmt.Errorf("watch: register metrics: %w", err)
	}
	scheme := mgr.GetScheme()
	if !scheme.Recognizes(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition")) {
		return errors.New("watch: the manager's scheme lacks apiextensions/v1 (use watch.AddToScheme)")
	}
	for _, p := range opts.Registry.Plugins() {
		if _, ok := p.(Phaser); !ok {
			continue // not watched
		}
		if !scheme.Recognizes(p.Kind()) {
			return fmt.Errorf("watch: the manager's scheme lacks %s (use watch.AddToScheme)", p.Kind())
		}
	}
	w := newWatcher(mgr, opts)
	return w.setup()
}
