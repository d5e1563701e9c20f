package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Paths the handlers are served at.
const (
	MutatePath   = "/mutate"
	ValidatePath = "/validate"
)

// Mutator is the mutating webhook: it expands SparkApplications, RayJobs and
// DaskJobs carrying flyte.org/task-template into their full spec and answers
// with the expansion's JSON patch. Everything else (other kinds, objects
// without the annotation, UPDATEs that leave the task annotations alone,
// already-expanded objects) is admitted without a patch. The handler has no
// side effects, so dryRun requests are answered exactly like the others.
type Mutator struct {
	Registry *plugins.Registry
	// Config returns the current plugin configuration (hot reload; nil:
	// the defaults).
	Config func() *config.Config
	// Templates returns the PodTemplates tasks may name; nil (or a nil
	// result) means none are known.
	Templates func() podspec.Templates
	// Now is the clock of the expansion (nil: time.Now).
	Now func() time.Time
}

var _ admission.Handler = (*Mutator)(nil)

var jsonPatchType = admissionv1.PatchTypeJSONPatch

// templateMarker is a cheap pre-check: an object whose JSON does not contain
// it has no flyte.org/task-template annotation (whatever its escaping of "/").
var templateMarker = []byte("task-template")

// Handle implements admission.Handler.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp, result, policy := m.handle(ctx, req)
	if result == ResultDenied {
		denialsTotal.WithLabelValues(req.Kind.Kind, policy).Inc()
	}
	observe(mutateName, req.Kind.Kind, string(req.Operation), result, start)
	if log := logr.FromContextOrDiscard(ctx).V(1); log.Enabled() {
		log.Info("mutate", "kind", cut(req.Kind.Kind, maxIdentityBytes), "namespace", cut(req.Namespace, maxIdentityBytes),
			"name", cut(req.Name, maxIdentityBytes),
			"operation", req.Operation, "dryRun", req.DryRun != nil && *req.DryRun, "result", result,
			"patchBytes", len(resp.Patch), "duration", time.Since(start))
	}
	return resp
}

func (m *Mutator) handle(ctx context.Context, req admission.Request) (admission.Response, string, string) {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return allowed, ResultAllowed, ""
	}
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	p, ok := m.Registry.ForKind(gk)
	if !ok {
		return allowed, ResultAllowed, ""
	}
	if err := checkEnvelope(p, req); err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError, ""
	}
	if err := checkOld(p, req); err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError, ""
	}
	if !bytes.Contains(req.Object.Raw, templateMarker) {
		// Nothing to expand; still, only an object of the request's kind.
		if err := checkHead(p, "request.object", req.Object.Raw); err != nil {
			return admission.Errored(http.StatusBadRequest, err), ResultError, ""
		}
		return allowed, ResultAllowed, ""
	}
	obj, err := checkObject(p, req)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err), ResultError, ""
	}
	if _, ok := obj.Head.Metadata.Annotations[task.TemplateAnnotation]; !ok {
		return allowed, ResultAllowed, "" // the marker was elsewhere
	}
	if errs := annotationErrors(&obj.Head); len(errs) > 0 {
		return Denied(gk, objectName(req), errs), ResultDenied, policyExpansion
	}
	var oldRaw []byte
	if req.Operation == admissionv1.Update {
		oldRaw = req.OldObject.Raw
	}
	env := plugins.Env{Config: current(m.Config), Now: m.Now}
	if m.Templates != nil {
		env.Templates = m.Templates()
	}
	x := expand.Expander{Registry: m.Registry, Env: env, Reserve: chargeExpansion}
	res, err := x.ExpandDecoded(ctx, obj, oldRaw)
	if err != nil {
		if errors.Is(err, errNoMemory) {
			return admission.Errored(http.StatusTooManyRequests, err), ResultError, ""
		}
		var xe *expand.Error
		if !errors.As(err, &xe) {
			return admission.Errored(http.StatusInternalServerError, err), ResultError, ""
		}
		errs := xe.FieldErrors()
		if xe.Field == "" {
			// The expansion failed without naming a field: it is the task's.
			errs = field.ErrorList{field.Invalid(templatePath, field.OmitValueType{}, xe.Message)}
		}
		return Denied(gk, objectName(req), errs), ResultDenied, policyExpansion
	}
	if len(res.Patch) == 0 {
		return allowed, ResultAllowed, ""
	}
	patch, err := res.PatchJSON()
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode patch: %w", err)), ResultError, ""
	}
	if len(patch) > maxPatchBytes {
		return Denied(gk, objectName(req), field.ErrorList{field.TooLong(field.NewPath("spec"), field.OmitValueType{}, maxPatchBytes)}), ResultDenied, policyExpansion
	}
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: true, Patch: patch, PatchType: &jsonPatchType,
	}}, ResultPatched, ""
}

// current returns the provider's configuration (the defaults without one).
func current(provider func() *config.Config) *config.Config {
	if provider != nil {
		if c := provider(); c != nil {
			return c
		}
	}
	return defaultConfig
}

var (
	defaultConfig = config.Default()
	allowed       = admission.Allowed("")
	templatePath  = field.NewPath("metadata", "annotations").Key(task.TemplateAnnotation)
)

// Denied is a 422 (Invalid) refusal whose causes name the fields, as kubectl
// prints them: `SparkApplication.sparkoperator.k8s.io "x" is invalid:
// spec.driver.tolerations[0]: Forbidden: ...`.
func Denied(gk schema.GroupKind, name string, errs field.ErrorList) admission.Response {
	st := apierrors.NewInvalid(gk, name, bounded(errs)).Status()
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &st}}
}

// objectName is the request's name, or the object's generateName on CREATE.
func objectName(req admission.Request) string {
	if req.Name != "" {
		return req.Name
	}
	var m struct {
		Metadata struct {
			GenerateName string `json:"generateName"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(req.Object.Raw, &m)
	return m.Metadata.GenerateName
}

// maxPatchBytes bounds the patch of an expansion: the object it makes is at
// most task.MaxObjectBytes, and the patch holds little more.
const maxPatchBytes = 2 * task.MaxObjectBytes

// Bounds of a denial: the message goes back to the user through the
// apiserver, and an error may echo a large piece of the input.
const (
	maxDenialCauses = 20
	maxDetailBytes  = 1024
)

// bounded keeps the first maxDenialCauses errors (and says how many more
// there were) with their details cut to maxDetailBytes.
func bounded(errs field.ErrorList) field.ErrorList {
	n := len(errs)
	var more *field.Error
	if n > maxDenialCauses {
		more = field.Invalid(field.NewPath(errs[maxDenialCauses].Field), field.OmitValueType{},
			fmt.Sprintf("and %d more errors not shown", n-maxDenialCauses))
		errs = errs[:maxDenialCauses]
	}
	out := make(field.ErrorList, 0, len(errs)+1)
	for _, e := range errs {
		out = append(out, cutError(e))
	}
	if more != nil {
		out = append(out, more)
	}
	return out
}

// cutError is e with its detail and (string) value cut to maxDetailBytes.
func cutError(e *field.Error) *field.Error {
	if len(e.Detail) <= maxDetailBytes && !badValueTooLong(e.BadValue) {
		return e
	}
	c := *e
	c.Detail = cut(c.Detail, maxDetailBytes)
	if s, ok := c.BadValue.(string); ok {
		c.BadValue = cut(s, maxDetailBytes)
	}
	return &c
}

func badValueTooLong(v any) bool {
	s, ok := v.(string)
	return ok && len(s) > maxDetailBytes
}

// cut shortens s to at most n bytes (on a UTF-8 boundary), saying how much
// was left out.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:i], len(s)-i)
}
