// Package plugins defines what a Flyte task plugin is at admission time (our
// counterpart of flyteplugins' k8s.Plugin) and the registry that picks one by
// object kind or task type.
package plugins

import (
	"fmt"
	"sort"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/tasklog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Env is what an expansion may read besides the task itself.
type Env struct {
	Config    *config.Config
	Templates podspec.Templates
	// Now is the clock (Spark's FLYTE_START_TIME); nil means time.Now.
	Now func() time.Time
}

// Clock returns e.Now or time.Now.
func (e Env) Clock() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Plugin is what every plugin is: the kind of object it builds and watches.
// What a caller needs beyond that is a small interface defined where it is
// used, which a plugin implements or not (controller-runtime's style):
// expand.Plugin (Expand, CRDDefaults), webhook.InvariantChecker (Validate),
// policy.PodLister (PodSpecs), watch.Phaser and watch.SchemeAdder, and a
// kind's own checks where its pods are not pod specs (policy.PodViewer,
// webhook.QuantityChecker). The
// built-in plugins implement them all; plugins/builtin's test says so.
type Plugin interface {
	// Kind is the object kind the plugin builds and watches.
	Kind() schema.GroupVersionKind
	// NewObject returns an empty object of Kind, for decoding.
	NewObject() client.Object
}

// TaskTyper is a plugin that expands TaskTemplates: the registry finds it by
// the task types it handles (Flyte's RegisterK8sPlugin).
type TaskTyper interface {
	// TaskTypes are the TaskTemplate types the plugin handles.
	TaskTypes() []string
}

// PodSpecRef is a pod spec inside an object.
type PodSpecRef struct {
	Path *field.Path
	Spec *corev1.PodSpec
	// Replicas is how many pods run this spec (for per-job totals).
	Replicas int
	// ReplicasPath is where Replicas is written (nil: a single pod).
	ReplicasPath *field.Path
}

// Phase names are Flyte's pluginsCore.Phase strings without the prefix.
const (
	PhaseUndefined        = "Undefined"
	PhaseNotReady         = "NotReady"
	PhaseWaitingResources = "WaitingForResources"
	PhaseQueued           = "Queued"
	PhaseInitializing     = "Initializing"
	PhaseRunning          = "Running"
	PhaseSuccess          = "Success"
	PhaseRetryableFailure = "RetryableFailure"
	PhasePermanentFailure = "PermanentFailure"
)

// PhaseInfo is a mapped Flyte phase.
type PhaseInfo struct {
	Phase  string `json:"phase"`
	Reason string `json:"reason"`
	// Message is the failure message (Flyte's ExecutionError.Message).
	Message string `json:"message,omitempty"`
	// Code is the failure code (Flyte's ExecutionError.Code).
	Code string         `json:"code,omitempty"`
	Logs []tasklog.Link `json:"logs"`
}

// Terminal reports whether the phase is final.
func (p PhaseInfo) Terminal() bool {
	switch p.Phase {
	case PhaseSuccess, PhaseRetryableFailure, PhasePermanentFailure:
		return true
	}
	return false
}

// Registry holds the plugins by kind and by task type (RegisterK8sPlugin).
type Registry struct {
	byKind map[schema.GroupKind]Plugin
	byType map[string]Plugin
	all    []Plugin
}

// NewRegistry registers ps; a kind or task type claimed twice is an error.
func NewRegistry(ps ...Plugin) (*Registry, error) {
	r := &Registry{byKind: map[schema.GroupKind]Plugin{}, byType: map[string]Plugin{}}
	for _, p := range ps {
		gk := p.Kind().GroupKind()
		if _, dup := r.byKind[gk]; dup {
			return nil, fmt.Errorf("register plugin: kind %s registered twice", gk)
		}
		r.byKind[gk] = p
		var types []string
		if tp, ok := p.(TaskTyper); ok {
			types = tp.TaskTypes()
		}
		for _, tt := range types {
			if _, dup := r.byType[tt]; dup {
				return nil, fmt.Errorf("register plugin: task type %q registered twice", tt)
			}
			r.byType[tt] = p
		}
		r.all = append(r.all, p)
	}
	return r, nil
}

// ForKind returns the plugin for an object kind (any version of the group).
func (r *Registry) ForKind(gk schema.GroupKind) (Plugin, bool) {
	p, ok := r.byKind[gk]
	return p, ok
}

// ForTaskType returns the plugin for a TaskTemplate type.
func (r *Registry) ForTaskType(t string) (Plugin, bool) {
	p, ok := r.byType[t]
	return p, ok
}

// Plugins returns all plugins in registration order.
func (r *Registry) Plugins() []Plugin { return r.all }

// TaskTypes returns every registered task type, sorted.
func (r *Registry) TaskTypes() []string {
	out := make([]string, 0, len(r.byType))
	for t := range r.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
