package watch

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric names (all on controller-runtime's metrics.Registry, served at
// /metrics with the webhook's).
const (
	// MetricObjects is a gauge of the reported objects by kind and Flyte
	// phase; deleted objects (and objects losing the task annotation) leave it.
	MetricObjects = "flyte_admission_watch_objects"
	// MetricTransitions counts phase transitions by kind, from and to
	// (from is NoPhase for an object's first report).
	MetricTransitions = "flyte_admission_watch_phase_transitions_total"
	// MetricTimeToRunning is a histogram of the time from the object's
	// creation to its first Running report, by kind.
	MetricTimeToRunning = "flyte_admission_watch_time_to_running_seconds"
	// MetricTimeToTerminal is a histogram of the time from the object's
	// creation to its terminal phase (Success, RetryableFailure,
	// PermanentFailure), by kind.
	MetricTimeToTerminal = "flyte_admission_watch_time_to_terminal_seconds"
	// MetricReconcileErrors counts failed reconciles (read or patch errors)
	// by kind.
	MetricReconcileErrors = "flyte_admission_watch_reconcile_errors_total"
	// MetricEventsDropped counts the transition Events not written (queue
	// full, or the apiserver refused them).
	MetricEventsDropped = "flyte_admission_watch_events_dropped_total"
)

// NoPhase is the from label of an object's first transition.
const NoPhase = "none"

// durationBuckets span a job's life: seconds to a day.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400}

var (
	objects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricObjects,
		Help: "Objects whose Flyte task phase the watcher reports, by kind and phase.",
	}, []string{"kind", "phase"})

	transitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricTransitions,
		Help: "Flyte task phase transitions reported, by kind, previous phase (none for the first report) and new phase.",
	}, []string{"kind", "from", "to"})

	timeToRunning = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricTimeToRunning,
		Help:    "Seconds from an object's creation to its first Running phase, by kind.",
		Buckets: durationBuckets,
	}, []string{"kind"})

	timeToTerminal = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricTimeToTerminal,
		Help:    "Seconds from an object's creation to its terminal Flyte phase (Success, RetryableFailure, PermanentFailure), by kind.",
		Buckets: durationBuckets,
	}, []string{"kind"})

	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricReconcileErrors,
		Help: "Failed reconciles of the status watcher (reading the object or patching its annotations), by kind.",
	}, []string{"kind"})

	eventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricEventsDropped,
		Help: "Phase transition Events the watcher did not write: its queue was full or the apiserver refused them.",
	})

	registerOnce sync.Once
	registerErr  error
)

// registerMetrics registers the collectors once per process.
func registerMetrics() error {
	registerOnce.Do(func() {
		for _, c := range []prometheus.Collector{objects, transitions, timeToRunning, timeToTerminal, reconcileErrors, eventsDropped} {
			if err := ctrlmetrics.Registry.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					registerErr = errors.Join(registerErr, err)
				}
			}
		}
	})
	return registerErr
}

// book is what one kind reconciler knows of its objects: the last report
// per object (for transitions and the update filter) and the count per
// phase (the objects gauge).
type book struct {
	kind   string
	mu     sync.Mutex
	byKey  map[types.NamespacedName]entry
	counts map[string]int
	closed bool // the watcher stopped: the gauge is no longer ours
}

type entry struct {
	uid   types.UID
	phase string
	sum   uint64 // report.sum of the last report
}

// newBook returns an empty book and resets the kind's gauge: the series of
// an earlier watcher in the process are not this one's.
func newBook(kind string) *book {
	objects.DeletePartialMatch(prometheus.Labels{"kind": kind})
	return &book{kind: kind, byKey: map[types.NamespacedName]entry{}, counts: map[string]int{}}
}

// previous is the phase last reported for the object: ours if we reported
// this object (same uid), else the one written on it (annotated).
func (b *book) previous(key types.NamespacedName, uid types.UID, annotated string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.byKey[key]; ok && e.uid == uid {
		return e.phase
	}
	return annotated
}

// matches reports whether r is what we last reported for the object.
func (b *book) matches(key types.NamespacedName, uid types.UID, r report) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byKey[key]
	return ok && e.uid == uid && e.sum == r.sum()
}

// record notes r as the object's report and returns a func restoring the
// previous state.
func (b *book) record(key types.NamespacedName, uid types.UID, r report) (undo func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev, had := b.byKey[key]
	b.setLocked(key, entry{uid: uid, phase: r.phase, sum: r.sum()}, true)
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.setLocked(key, prev, had)
	}
}

// forget drops a deleted (or no longer annotated) object.
func (b *book) forget(key types.NamespacedName) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setLocked(key, entry{}, false)
}

func (b *book) setLocked(key types.NamespacedName, e entry, present bool) {
	if old, ok := b.byKey[key]; ok {
		b.count(old.phase, -1)
		delete(b.byKey, key)
	}
	if present {
		b.byKey[key] = e
		b.count(e.phase, 1)
	}
}

func (b *book) count(phase string, d int) {
	b.counts[phase] += d
	if !b.closed {
		objects.WithLabelValues(b.kind, phase).Set(float64(b.counts[phase]))
	}
}

// close removes the kind's gauge series; later changes are not exported.
func (b *book) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	objects.DeletePartialMatch(prometheus.Labels{"kind": b.kind})
}
