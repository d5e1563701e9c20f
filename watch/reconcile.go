package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// maxEventNote bounds an Event's note (events.k8s.io/v1 allows 1 kB).
const maxEventNote = 1024

// kindReconciler reports the phase of the objects of one kind.
type kindReconciler struct {
	plugin Phaser
	kind   string
	client client.Client
	events *eventSink
	opts   Options
	log    logr.Logger
	book   *book
}

func newKindReconciler(mgr manager.Manager, p Phaser, opts Options, events *eventSink) *kindReconciler {
	kind := p.Kind().Kind
	return &kindReconciler{
		plugin: p,
		kind:   kind,
		client: mgr.GetClient(),
		events: events,
		opts:   opts,
		log:    opts.Log.WithValues("kind", kind),
		book:   newBook(kind),
	}
}

// report is what the watcher writes on an object.
type report struct {
	phase, reason, links string
}

// linkJSON is one entry of the log-links annotation.
type linkJSON struct {
	Name string `json:"name"`
	URI  string `json:"uri"`
}

func reportOf(info plugins.PhaseInfo) report {
	links := make([]linkJSON, len(info.Logs))
	for i, l := range info.Logs {
		links[i] = linkJSON{Name: l.Name, URI: l.URI}
	}
	data, _ := json.Marshal(links) // strings only: cannot fail
	return report{phase: info.Phase, reason: reasonOf(info), links: string(data)}
}

// reasonOf is the reason, or the message when the reason is empty.
func reasonOf(info plugins.PhaseInfo) string {
	if info.Reason != "" {
		return info.Reason
	}
	return info.Message
}

// reported reads the report currently written on annotations.
func reported(ann map[string]string) (report, bool) {
	ph, ok := ann[PhaseAnnotation]
	return report{phase: ph, reason: ann[PhaseReasonAnnotation], links: ann[LogLinksAnnotation]}, ok
}

func (r report) sum() uint64 {
	h := fnv.New64a()
	for _, s := range []string{r.phase, r.reason, r.links} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// patch is the JSON merge patch writing r (metadata.annotations only).
func (r report) patch() []byte {
	data, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		PhaseAnnotation:       r.phase,
		PhaseReasonAnnotation: r.reason,
		LogLinksAnnotation:    r.links,
	}}})
	return data
}

// Reconcile maps the object's status to a Flyte phase and reports it.
func (r *kindReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	defer func() {
		if err != nil {
			reconcileErrors.WithLabelValues(r.kind).Inc()
		}
	}()
	obj := r.plugin.NewObject()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.book.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !r.opts.All && !annotated(obj) {
		r.book.forget(req.NamespacedName)
		return reconcile.Result{}, nil
	}
	info := r.plugin.Phase(obj, r.opts.Config(), r.opts.Now())
	want := reportOf(info)
	have, _ := reported(obj.GetAnnotations())
	from := r.book.previous(req.NamespacedName, obj.GetUID(), have.phase)

	if want != have {
		// Recorded before the patch, so that the update event of our own
		// write is filtered out as nothing new.
		undo := r.book.record(req.NamespacedName, obj.GetUID(), want)
		r.log.V(1).Info("reporting phase", "object", req.NamespacedName.String(), "from", from, "phase", want.phase, "reason", want.reason)
		// The patch goes through the metadata client: the apiserver answers
		// with the object's metadata only, not the whole object (spec
		// included) that the typed client would decode and drop.
		target := &metav1.PartialObjectMetadata{}
		target.SetGroupVersionKind(r.plugin.Kind())
		target.SetNamespace(req.Namespace)
		target.SetName(req.Name)
		if err := r.client.Patch(ctx, target, client.RawPatch(types.MergePatchType, want.patch()), client.FieldOwner(FieldManager)); err != nil {
			undo()
			if apierrors.IsNotFound(err) {
				r.book.forget(req.NamespacedName)
				return reconcile.Result{}, nil
			}
			return reconcile.Result{}, fmt.Errorf("patch phase annotations: %w", err)
		}
		obj.SetResourceVersion(target.GetResourceVersion()) // the Event regards the reported version
	} else {
		r.book.record(req.NamespacedName, obj.GetUID(), want)
	}
	if from != want.phase {
		r.transition(obj, from, info)
	}
	return reconcile.Result{}, nil
}

// transition emits the Event and the metrics of a phase change.
func (r *kindReconciler) transition(obj client.Object, from string, info plugins.PhaseInfo) {
	fromLabel := from
	if fromLabel == "" {
		fromLabel = NoPhase
	}
	transitions.WithLabelValues(r.kind, fromLabel, info.Phase).Inc()
	age := r.opts.Now().Sub(obj.GetCreationTimestamp().Time).Seconds()
	if age < 0 {
		age = 0
	}
	if info.Phase == plugins.PhaseRunning {
		timeToRunning.WithLabelValues(r.kind).Observe(age)
	}
	if info.Terminal() && !(plugins.PhaseInfo{Phase: from}).Terminal() {
		timeToTerminal.WithLabelValues(r.kind).Observe(age)
	}
	eventType := corev1.EventTypeNormal
	if info.Phase == plugins.PhaseRetryableFailure || info.Phase == plugins.PhasePermanentFailure {
		eventType = corev1.EventTypeWarning
	}
	note := reasonOf(info)
	if note == "" {
		note = fmt.Sprintf("Flyte task phase %s (was %s)", info.Phase, fromLabel)
	}
	if len(note) > maxEventNote {
		note = note[:maxEventNote-3] + "..."
	}
	r.events.emit(obj, eventType, info.Phase, note)
}

// filter lets through the events worth a reconcile: creations and
// deletions of annotated objects (any object with Options.All), and updates
// that change the status, the task annotations, or the reported annotations
// behind the watcher's back. Updates of anything else (spec, labels, our own
// annotation patches, resyncs) are dropped.
func (r *kindReconciler) filter() predicate.Predicate {
	ours := func(obj client.Object) bool { return r.opts.All || annotated(obj) }
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return ours(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return ours(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return ours(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			if !ours(e.ObjectOld) && !ours(e.ObjectNew) {
				return false
			}
			if ours(e.ObjectOld) != ours(e.ObjectNew) {
				return true // annotation added or removed
			}
			oldAnn, newAnn := e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()
			if oldAnn[task.TemplateAnnotation] != newAnn[task.TemplateAnnotation] ||
				oldAnn[task.ExecutionAnnotation] != newAnn[task.ExecutionAnnotation] {
				return true
			}
			if !equality.Semantic.DeepEqual(statusOf(e.ObjectOld), statusOf(e.ObjectNew)) {
				return true
			}
			have, _ := reported(newAnn)
			return !r.book.matches(client.ObjectKeyFromObject(e.ObjectNew), e.ObjectNew.GetUID(), have)
		},
	}
}

// annotated reports whether obj carries a task template.
func annotated(obj client.Object) bool {
	_, ok := obj.GetAnnotations()[task.TemplateAnnotation]
	return ok
}

// statusOf returns the status of a typed object (its Status field) or of an
// unstructured one.
func statusOf(obj client.Object) any {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.Object["status"]
	}
	v := reflect.ValueOf(obj)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	f := v.FieldByName("Status")
	if !f.IsValid() {
		return nil
	}
	return f.Interface()
}
