package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/plugins"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// checkEnvelope refuses, cheaply (no decoding), what the apiserver never
// sends for a CREATE or UPDATE of one of the plugins' kinds: a missing
// object, an object or oldObject that is not a JSON object (a JSON string
// or array, say), and a version other than the plugin's (the webhooks'
// rules name that version; the apiserver converts to it). Both webhooks run
// it before anything else, so that a malformed or forged review is answered
// with what is wrong with it instead of being admitted unread.
func checkEnvelope(p plugins.Plugin, req admission.Request) error {
	want := p.Kind()
	if len(req.Object.Raw) == 0 {
		return fmt.Errorf("request.object is missing (a %s of %s needs one)", req.Operation, want.Kind)
	}
	if req.Kind.Version != want.Version {
		return fmt.Errorf("request.kind is %s/%s %s: this webhook serves %s (the version its rules name)",
			req.Kind.Group, req.Kind.Version, req.Kind.Kind, want.GroupVersion())
	}
	if !isJSONObject(req.Object.Raw) {
		return fmt.Errorf("request.object is %s, not a JSON object (a %s)", jsonKind(req.Object.Raw), want.Kind)
	}
	if len(req.OldObject.Raw) > 0 && !isJSONObject(req.OldObject.Raw) {
		return fmt.Errorf("request.oldObject is %s, not a JSON object (a %s)", jsonKind(req.OldObject.Raw), want.Kind)
	}
	return nil
}

// isJSONObject: raw (a value the review decoder checked) is a JSON object.
func isJSONObject(raw []byte) bool {
	b := bytes.TrimLeft(raw, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// jsonKind names the kind of JSON value raw is, for messages.
func jsonKind(raw []byte) string {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return "empty"
	}
	switch c := b[0]; {
	case c == '"':
		return "a JSON string"
	case c == '[':
		return "a JSON array"
	case c == 't' || c == 'f':
		return "a JSON boolean"
	case c == 'n':
		return "JSON null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a JSON number"
	}
	return "not JSON"
}

// checkRequest is checkEnvelope, and that the object's bytes are UTF-8 (JSON
// decoding would silently replace them). checkKind then compares the
// decoded object's apiVersion and kind with the request's.
func checkRequest(p plugins.Plugin, req admission.Request) error {
	if err := checkEnvelope(p, req); err != nil {
		return err
	}
	if !utf8.Valid(req.Object.Raw) {
		return errors.New("request.object is not valid UTF-8")
	}
	return nil
}

// checkKind refuses an object (which names it: request.object or
// request.oldObject) whose apiVersion and kind are not the plugin's (the
// request's, once checkEnvelope passed).
func checkKind(p plugins.Plugin, which, apiVersion, kind string) error {
	want := p.Kind()
	if got := schema.FromAPIVersionAndKind(apiVersion, kind); got != want {
		return fmt.Errorf("%s is apiVersion %q, kind %q: the request is for %s, kind %s",
			which, apiVersion, kind, want.GroupVersion(), want.Kind)
	}
	return nil
}

// checkHead decodes only the apiVersion and kind of raw (request.object or
// request.oldObject, named by which) and checks them with checkKind.
func checkHead(p plugins.Plugin, which string, raw []byte) error {
	if !utf8.Valid(raw) {
		return fmt.Errorf("%s is not valid UTF-8", which)
	}
	var h metav1.TypeMeta
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("decode %s: %w", which, err)
	}
	return checkKind(p, which, h.APIVersion, h.Kind)
}

// checkOld is checkHead on an UPDATE's oldObject (nothing to check on
// CREATE): the stored object decides what an UPDATE changes, so one of
// another kind must not be taken for it.
func checkOld(p plugins.Plugin, req admission.Request) error {
	if req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
		return nil
	}
	return checkHead(p, "request.oldObject", req.OldObject.Raw)
}

// checkObject is checkRequest, then checkKind on the object's head. The
// object is decoded once, for these checks and the expansion alike.
func checkObject(p plugins.Plugin, req admission.Request) (*expand.Decoded, error) {
	if err := checkRequest(p, req); err != nil {
		return nil, err
	}
	d, err := expand.DecodeRaw(req.Object.Raw)
	if err != nil {
		return nil, fmt.Errorf("decode request.object: %w", err)
	}
	if err := checkKind(p, "request.object", d.Head.APIVersion, d.Head.Kind); err != nil {
		return nil, err
	}
	return d, nil
}

// annotationErrors is the apiserver's own check of metadata.annotations (keys
// and the 256 KiB total), run before expanding so that a skeleton the
// apiserver would refuse anyway is refused with that reason, not expanded.
func annotationErrors(h *expand.Head) field.ErrorList {
	return apivalidation.ValidateAnnotations(h.Metadata.Annotations, field.NewPath("metadata", "annotations"))
}

// maxQuantity is the largest quantity counted exactly in milli-units (what
// the scheduler and the max-resources policy add up, as int64): beyond it
// MilliValue() is meaningless (1e30 reads as 0).
var maxQuantity = resource.NewMilliQuantity(math.MaxInt64, resource.DecimalSI)

// quantityErrors are the negative or uncountably large resource requests and
// limits of obj's pods, or p's own check when p is a QuantityChecker (the
// plugins check counts themselves, plugins.CountErrors): the pods'
// validation would refuse negative ones only once the operator creates them
// (the job then fails instead of being refused), and a quantity too large to
// count would pass the max-resources policy as zero.
func quantityErrors(p plugins.Plugin, obj client.Object, refs []plugins.PodSpecRef) field.ErrorList {
	if qc, ok := p.(QuantityChecker); ok {
		return qc.QuantityErrors(obj)
	}
	var errs field.ErrorList
	for _, ref := range refs {
		for _, list := range []struct {
			name string
			cs   []corev1.Container
		}{{"initContainers", ref.Spec.InitContainers}, {"containers", ref.Spec.Containers}} {
			for i := range list.cs {
				res := list.cs[i].Resources
				p := ref.Path.Child(list.name).Index(i).Child("resources")
				for _, rl := range []struct {
					name string
					list corev1.ResourceList
				}{{"requests", res.Requests}, {"limits", res.Limits}} {
					for _, name := range slices.Sorted(maps.Keys(rl.list)) {
						switch q := rl.list[name]; {
						case q.Sign() < 0:
							errs = append(errs, field.Invalid(p.Child(rl.name).Key(string(name)), q.String(), "must be greater than or equal to 0"))
						case q.Cmp(*maxQuantity) > 0:
							errs = append(errs, field.Invalid(p.Child(rl.name).Key(string(name)), q.String(),
								"must be at most "+maxQuantity.String()+" (too large to count)"))
						}
					}
				}
			}
		}
	}
	return errs
}
