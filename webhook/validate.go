package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Validator is the validating webhook: every SparkApplication, RayJob and
// DaskJob, annotated or not, is checked against its plugin's invariants and
// the cluster policies. Violations of enforce-mode policies deny the request
// (422, naming the fields), warn-mode ones become admission warnings,
// audit-mode ones are logged and counted. DELETEs, objects being deleted and,
// on UPDATE, violations the stored object already had (so that finalizers,
// phase annotations and label edits of objects admitted under older rules
// still go through; they come back as warnings) are admitted. No side
// effects: dryRun requests are answered like the others.
type Validator struct {
	Registry *plugins.Registry
	// Config returns the current plugin configuration (hot reload).
	Config func() *config.Config
	// Policies returns the current policies (nil: the invariants, enforced).
	Policies func() *policy.Set
	// Log receives audit-mode violations (nil: the request's logger).
	Log *logr.Logger
}

var _ admission.Handler = (*Validator)(nil)

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp, result, findings := v.handle(ctx, req)
	kind := req.Kind.Kind
	for i := range findings {
		f := &findings[i]
		switch f.Mode {
		case policy.Audit:
			policyAudits.WithLabelValues(kind, f.Policy).Inc()
			log := logr.FromContextOrDiscard(ctx)
			if v.Log != nil {
				log = *v.Log
			}
			logAudit(log, req, f)
		case policy.Enforce:
			if result == ResultDenied {
				denialsTotal.WithLabelValues(kind, f.Policy).Inc()
			}
		}
	}
	observe(validateName, kind, string(req.Operation), result, start)
	if log := logr.FromContextOrDiscard(ctx).V(1); log.Enabled() {
		log.Info("validate", "kind", cut(kind, maxIdentityBytes), "namespace", cut(req.Namespace, maxIdentityBytes), "name", cut(req.Name, maxIdentityBytes), "operation", req.Operation,
			"dryRun", req.DryRun != nil && *req.DryRun, "result", result, "warnings", len(resp.Warnings), "duration", time.Since(start))
	}
	return resp
}

func (v *Validator) handle(ctx context.Context, req admission.Request) (admission.Response, string, []policy.Finding) {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allowed, ResultAllowed, nil
	}
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	p, ok := v.Registry.ForKind(gk)
	if !ok {
		return allowed, ResultAllowed, nil
	}
	if err := checkRequest(p, req); err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError, nil
	}
	if err := checkOld(p, req); err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError, nil
	}
	obj, err := decodeTyped(p, req.Object.Raw, req.Namespace)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode %s: %w", req.Kind.Kind, err)), ResultError, nil
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if err := checkKind(p, "request.object", gvk.GroupVersion().String(), gvk.Kind); err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError, nil
	}
	if obj.GetDeletionTimestamp() != nil {
		return allowed, ResultAllowed, nil // finishing a deletion (finalizers) is never refused
	}
	cfg := current(v.Config)
	var set *policy.Set
	if v.Policies != nil {
		set = v.Policies()
	}
	findings := Findings(set, p, obj, cfg)
	if len(findings) == 0 {
		return allowed, ResultAllowed, nil
	}
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 && enforced(findings) {
		old, err := decodeTyped(p, req.OldObject.Raw, req.Namespace)
		if err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode request.oldObject: %w", err)), ResultError, nil
		}
		findings = ratchet(findings, Findings(set, p, old, cfg))
	}
	var denials field.ErrorList
	var warnings []string
	unshown := 0
	for _, f := range findings {
		switch f.Mode {
		case policy.Enforce:
			denials = append(denials, f.Errs...)
		case policy.Warn:
			// Bounded like denials: the first maxWarnings, each error's
			// value and detail cut before it is rendered (a warning must
			// not echo a large piece of the object), the rest counted.
			for _, e := range f.Errs {
				if len(warnings) == maxWarnings {
					unshown++
					continue
				}
				warnings = append(warnings, cut(f.Policy+": "+cutError(e).Error(), maxWarningBytes))
			}
		}
	}
	if unshown > 0 {
		warnings = append(warnings, fmt.Sprintf("and %d more warnings not shown", unshown))
	}
	if len(denials) > 0 {
		resp := Denied(gk, obj.GetName(), denials)
		resp.Warnings = warnings
		return resp, ResultDenied, findings
	}
	if len(warnings) > 0 {
		return admission.Allowed("").WithWarnings(warnings...), ResultWarned, findings
	}
	return allowed, ResultAllowed, findings
}

// Findings is what the validating webhook judges obj by, and the one path
// `flyte-admission validate` runs too: the policies of set (nil: the
// defaults), and the invariants, which are the plugin's and countable,
// non-negative resource quantities. A skeleton the mutating webhook has not
// expanded is not judged by the plugin's invariants (which hold for
// expansions): the admission policy refuses it.
func Findings(set *policy.Set, p plugins.Plugin, obj client.Object, cfg *config.Config) []policy.Finding {
	pods := policy.PodsOf(p, obj)
	var invariants field.ErrorList
	if ic, ok := p.(InvariantChecker); ok && expand.CheckExpanded(obj.GetAnnotations()) == nil {
		invariants = ic.Validate(obj, cfg)
	}
	return set.Findings(obj, pods, append(invariants, quantityErrors(p, obj, pods.Specs)...))
}

// InvariantChecker is a plugin with invariants of its own on every object of
// its kind (the validating webhook's first check).
type InvariantChecker interface {
	Validate(obj client.Object, cfg *config.Config) field.ErrorList
}

// QuantityChecker is a plugin whose kind's pods are not pod specs (their
// sizes are fields of their own): it checks obj's quantities itself, instead
// of the webhook's check of its PodSpecs' requests and limits.
type QuantityChecker interface {
	QuantityErrors(obj client.Object) field.ErrorList
}

func decodeTyped(p plugins.Plugin, raw []byte, namespace string) (client.Object, error) {
	obj := p.NewObject()
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(namespace)
	}
	return obj, nil
}

func enforced(fs []policy.Finding) bool {
	for _, f := range fs {
		if f.Mode == policy.Enforce {
			return true
		}
	}
	return false
}

// ratchet turns the enforce-mode violations the stored object already had
// into warnings: an UPDATE is refused only for what it breaks.
func ratchet(findings, old []policy.Finding) []policy.Finding {
	out := make([]policy.Finding, 0, len(findings)+1)
	for _, f := range findings {
		if f.Mode != policy.Enforce {
			out = append(out, f)
			continue
		}
		var had []string
		for _, o := range old {
			if o.Policy == f.Policy {
				for _, e := range o.Errs {
					had = append(had, e.Error())
				}
			}
		}
		var keep, pre field.ErrorList
		for _, e := range f.Errs {
			if contains(had, e.Error()) {
				pre = append(pre, e)
			} else {
				keep = append(keep, e)
			}
		}
		if len(keep) > 0 {
			out = append(out, policy.Finding{Policy: f.Policy, Mode: policy.Enforce, Errs: keep})
		}
		if len(pre) > 0 {
			out = append(out, policy.Finding{Policy: f.Policy + " (already violated before this update)", Mode: policy.Warn, Errs: pre})
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Bounds of what the validator writes besides denials: warnings go back to
// the user through the apiserver, audit lines to the log.
const (
	maxWarnings     = maxDenialCauses
	maxWarningBytes = maxDetailBytes
	// maxLoggedFields is how many field paths an audit line names.
	maxLoggedFields = 20
	// maxIdentityBytes caps a logged name, namespace, uid or path (the
	// apiserver's own are far shorter; a forged review's need not be).
	maxIdentityBytes = 256
)

// boundedWarnings keeps the first maxWarnings warnings (and says how many
// more there were), each cut to maxWarningBytes.
func boundedWarnings(ws []string) []string {
	if len(ws) == 0 {
		return ws
	}
	n := min(len(ws), maxWarnings)
	out := make([]string, 0, n+1)
	for _, w := range ws[:n] {
		out = append(out, cut(w, maxWarningBytes))
	}
	if len(ws) > n {
		out = append(out, fmt.Sprintf("and %d more warnings not shown", len(ws)-n))
	}
	return out
}

// logAudit logs an audit-mode finding. At the default level the line is
// bounded and value-free: the request's identity, the policy, how many
// violations and the field paths of the first maxLoggedFields, never what
// the object holds there (images, paths, commands may be secrets, and any
// of them may be large). The messages, values included, are logged at
// V(1), bounded like denials.
func logAudit(log logr.Logger, req admission.Request, f *policy.Finding) {
	fields := make([]string, 0, min(len(f.Errs), maxLoggedFields))
	for _, e := range f.Errs[:min(len(f.Errs), maxLoggedFields)] {
		fields = append(fields, cut(e.Field, maxIdentityBytes))
	}
	kv := []any{"policy", f.Policy, "kind", req.Kind.Kind, "namespace", cut(req.Namespace, maxIdentityBytes),
		"name", cut(req.Name, maxIdentityBytes), "uid", cut(string(req.UID), maxIdentityBytes),
		"operation", req.Operation, "violations", len(f.Errs), "fields", fields}
	log.Info("policy violation (audit mode)", kv...)
	if debug := log.V(1); debug.Enabled() {
		msgs := policy.Finding{Policy: f.Policy, Errs: bounded(f.Errs)}.Messages()
		debug.Info("policy violation (audit mode): messages", append(kv, "messages", boundedWarnings(msgs))...)
	}
}
