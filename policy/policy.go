// Package policy holds the cluster policies the validating webhook applies to
// every SparkApplication, RayJob and DaskJob, next to the plugins' own
// invariants: one small named check per file (allowed-registries,
// max-resources, required-labels, forbid-privileged, forbid-host-path), each
// with a mode (enforce, warn, audit) and namespace exemptions, loaded from a
// policies file.
package policy

import (
	"slices"

	"github.com/flyte-admission/flyte-admission/plugins"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Policy is one named cluster policy.
type Policy interface {
	// Name is the policy's name: its key in the policies file, its metric
	// label and the file it lives in.
	Name() string
	// Check returns the policy's violations in obj, whose pods are pods.
	Check(obj client.Object, pods Pods) field.ErrorList
}

// Pods are an object's pods as the policies read them (PodsOf).
type Pods struct {
	// Specs are the pod specs inside the object (the plugin's PodSpecs).
	Specs []plugins.PodSpecRef
	// viewer is the plugin, when its kind's pods are not pod specs.
	viewer PodViewer
}

// PodLister is a plugin that lists the pod specs inside its kind's objects,
// with their field paths.
type PodLister interface {
	PodSpecs(obj client.Object) []plugins.PodSpecRef
}

// PodViewer is a plugin whose kind's pods are not (only) pod specs (a
// SparkApplication's driver and executor are fields of their own): the
// policies read an object's containers, volumes and pod sizes from it instead
// of from its PodSpecs. Each method returns nothing for an object of another
// kind.
type PodViewer interface {
	// Containers are every container, init container and sidecar of obj's
	// pods.
	Containers(obj client.Object) []plugins.Container
	// Volumes are every volume of obj's pods.
	Volumes(obj client.Object) []plugins.Volume
	// Pods are obj's pods, each with how many run alike.
	Pods(obj client.Object) []plugins.Pod
	// HostPathSettings are obj's fields besides volumes that mount host
	// paths into its pods (Spark's hostPath volume settings), in order.
	HostPathSettings(obj client.Object) []*field.Path
}

// PodsOf returns obj's pods as its plugin p shows them: p's PodSpecs when p
// is a PodLister, read from p when p is a PodViewer.
func PodsOf(p plugins.Plugin, obj client.Object) Pods {
	var pods Pods
	if l, ok := p.(PodLister); ok {
		pods.Specs = l.PodSpecs(obj)
	}
	pods.viewer, _ = p.(PodViewer)
	return pods
}

// checker is implemented by the built-in policies: Check on a view shared by
// all policies of one evaluation.
type checker interface {
	check(v *view) field.ErrorList
}

// Mode is what a violation leads to.
type Mode string

// The modes.
const (
	// Enforce denies the request.
	Enforce Mode = "enforce"
	// Warn admits it with admission warnings (kubectl prints them).
	Warn Mode = "warn"
	// Audit admits it silently; the webhook logs and counts the violation.
	Audit Mode = "audit"
)

// InvariantsName names the plugins' invariants among the policies.
const InvariantsName = "invariants"

// Rule is a policy with its mode and exempt namespaces.
type Rule struct {
	Policy Policy
	// Mode defaults to Enforce.
	Mode             Mode
	ExemptNamespaces []string
}

func (r *Rule) exempt(ns string) bool { return slices.Contains(r.ExemptNamespaces, ns) }

// Set is a loaded policies file: the mode of the plugins' invariants and the
// enabled policies. A nil *Set enforces the invariants and nothing else.
type Set struct {
	exempt     []string
	invariants Rule
	rules      []Rule
}

// NewSet builds a set: namespaces exempt from everything, the invariants'
// rule (its Policy is ignored) and the policies.
func NewSet(exemptNamespaces []string, invariants Rule, rules ...Rule) *Set {
	s := &Set{exempt: exemptNamespaces, invariants: invariants, rules: rules}
	if s.invariants.Mode == "" {
		s.invariants.Mode = Enforce
	}
	for i := range s.rules {
		if s.rules[i].Mode == "" {
			s.rules[i].Mode = Enforce
		}
	}
	return s
}

// Default enforces the plugins' invariants and no cluster policy.
func Default() *Set { return NewSet(nil, Rule{Mode: Enforce}) }

// Names lists the enabled policies (invariants first).
func (s *Set) Names() []string {
	out := []string{InvariantsName}
	if s == nil {
		return out
	}
	for _, r := range s.rules {
		out = append(out, r.Policy.Name())
	}
	return out
}

// Finding is one policy's violations in one object.
type Finding struct {
	Policy string
	Mode   Mode
	Errs   field.ErrorList
}

// Messages renders the violations as one line each, naming the policy
// (the text of admission warnings and audit logs).
func (f Finding) Messages() []string {
	out := make([]string, len(f.Errs))
	for i, e := range f.Errs {
		out[i] = f.Policy + ": " + e.Error()
	}
	return out
}

// Findings runs every policy that applies to obj's namespace and returns those
// with violations; invariants are the plugin's Validate errors for obj. It
// allocates nothing when obj passes.
func (s *Set) Findings(obj client.Object, pods Pods, invariants field.ErrorList) []Finding {
	if s == nil {
		s = defaultSet
	}
	ns := obj.GetNamespace()
	if slices.Contains(s.exempt, ns) {
		return nil
	}
	var out []Finding
	if len(invariants) > 0 && !s.invariants.exempt(ns) {
		out = append(out, Finding{Policy: InvariantsName, Mode: s.invariants.Mode, Errs: invariants})
	}
	var v *view
	for i := range s.rules {
		r := &s.rules[i]
		if r.exempt(ns) {
			continue
		}
		var errs field.ErrorList
		if c, ok := r.Policy.(checker); ok {
			if v == nil {
				v = newView(obj, pods)
			}
			errs = c.check(v)
		} else {
			errs = r.Policy.Check(obj, pods)
		}
		if len(errs) > 0 {
			out = append(out, Finding{Policy: r.Policy.Name(), Mode: r.Mode, Errs: errs})
		}
	}
	return out
}

// Evaluate runs the policies on obj: the violations to deny the request with,
// the admission warnings and the audit messages.
func (s *Set) Evaluate(obj client.Object, pods Pods, invariants field.ErrorList) (denials field.ErrorList, warnings, audits []string) {
	for _, f := range s.Findings(obj, pods, invariants) {
		switch f.Mode {
		case Warn:
			warnings = append(warnings, f.Messages()...)
		case Audit:
			audits = append(audits, f.Messages()...)
		default:
			denials = append(denials, f.Errs...)
		}
	}
	return denials, warnings, audits
}

var defaultSet = Default()
