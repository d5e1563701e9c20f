package watch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// mappingRetry is how long the CRD controller waits before asking the REST
// mapper again about a kind whose CRD is Established but not yet in
// discovery.
const mappingRetry = time.Second

// watcher starts the kind reconcilers as their CRDs appear.
type watcher struct {
	mgr    manager.Manager
	opts   Options
	byKind map[schema.GroupKind]Phaser
	events *eventSink

	mu      sync.Mutex
	started map[schema.GroupKind]bool
	books   []*book
}

func newWatcher(mgr manager.Manager, opts Options) *watcher {
	w := &watcher{mgr: mgr, opts: opts, byKind: map[schema.GroupKind]Phaser{}, started: map[schema.GroupKind]bool{},
		events: newEventSink(mgr, opts.Log)}
	for _, p := range opts.Registry.Plugins() {
		if ph, ok := p.(Phaser); ok {
			w.byKind[p.Kind().GroupKind()] = ph
		}
	}
	return w
}

func (w *watcher) setup() error {
	ours := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			return false
		}
		_, ok = w.byKind[schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}]
		return ok
	})
	// A stopped watcher reports no objects: its gauge series go.
	stop := manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, b := range w.books {
			b.close()
		}
		return nil
	})
	if err := w.mgr.Add(stop); err != nil {
		return err
	}
	if err := w.mgr.Add(w.events); err != nil {
		return err
	}
	return builder.ControllerManagedBy(w.mgr).
		Named(ControllerName+"-crds").
		For(&apiextensionsv1.CustomResourceDefinition{}, builder.WithPredicates(ours)).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(true), MaxConcurrentReconciles: 1}).
		WithLogConstructor(logConstructor(w.opts.Log)).
		Complete(reconcile.Func(w.reconcileCRD))
}

// reconcileCRD starts the reconciler of the CRD's kind once the CRD is
// Established, serves the plugin's version and the REST mapper knows it.
// A reconciler, once started, runs until the manager stops (a CRD deleted
// and installed again is picked up by the same informer).
func (w *watcher) reconcileCRD(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := w.mgr.GetClient().Get(ctx, req.NamespacedName, crd); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	gk := schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}
	p, ok := w.byKind[gk]
	if !ok || w.isStarted(gk) || !established(crd) {
		return reconcile.Result{}, nil
	}
	log := w.opts.Log.WithValues("crd", crd.Name)
	version := p.Kind().Version
	if !serves(crd, version) {
		log.Info("CRD does not serve the plugin's version; kind not watched", "version", version)
		return reconcile.Result{}, nil
	}
	if _, err := w.mgr.GetRESTMapper().RESTMapping(gk, version); err != nil {
		// Established, but discovery has not caught up yet.
		log.V(1).Info("kind not in discovery yet", "error", err.Error())
		return reconcile.Result{RequeueAfter: mappingRetry}, nil
	}
	if err := w.startKind(p); err != nil {
		return reconcile.Result{}, err
	}
	log.Info("watching kind", "kind", p.Kind().String())
	return reconcile.Result{}, nil
}

func (w *watcher) isStarted(gk schema.GroupKind) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started[gk]
}

// startKind adds the kind's reconciler to the (possibly running) manager.
func (w *watcher) startKind(p Phaser) error {
	gk := p.Kind().GroupKind()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started[gk] {
		return nil
	}
	r := newKindReconciler(w.mgr, p, w.opts, w.events)
	err := builder.ControllerManagedBy(w.mgr).
		Named(ControllerName + "-" + strings.ToLower(p.Kind().Kind)).
		For(p.NewObject()).
		WithEventFilter(r.filter()).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(true), MaxConcurrentReconciles: w.opts.MaxConcurrentReconciles}).
		WithLogConstructor(logConstructor(r.log)).
		Complete(r)
	if err != nil {
		return fmt.Errorf("watch %s: %w", p.Kind().Kind, err)
	}
	w.started[gk] = true
	w.books = append(w.books, r.book)
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

func serves(crd *apiextensionsv1.CustomResourceDefinition, version string) bool {
	for _, v := range crd.Spec.Versions {
		if v.Name == version {
			return v.Served
		}
	}
	return false
}

// logConstructor sends controller-runtime's per-request logs (e.g.
// "Reconciler error") to log.
func logConstructor(log logr.Logger) func(*reconcile.Request) logr.Logger {
	return func(req *reconcile.Request) logr.Logger {
		if req == nil {
			return log
		}
		return log.WithValues("object", req.NamespacedName.String())
	}
}
