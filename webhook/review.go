package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// admissionReview is an AdmissionReview of admission.k8s.io/v1 or v1beta1 (the two
// have the same shape).
type admissionReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *admissionv1.AdmissionRequest `json:"request,omitempty"`
}

// decodeReview decodes an AdmissionReview body in one pass, case-sensitively
// as the apiserver writes it (the embedded objects stay raw JSON for the
// handlers), and returns its request and the review's version for the
// answer. A body that is not a JSON object, or whose apiVersion and kind
// (when given) are not an AdmissionReview's, is refused.
func decodeReview(body []byte) (admission.Request, schema.GroupVersionKind, error) {
	return decodeReviewWith(body, true)
}

// decodeReviewWith is decodeReview, through decodeReviewFast if fast (the
// tests compare the two ways).
func decodeReviewWith(body []byte, fast bool) (admission.Request, schema.GroupVersionKind, error) {
	v1 := admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return admission.Request{}, v1, fmt.Errorf("the body is not JSON: %w", err)
		}
		return admission.Request{}, v1, fmt.Errorf("the body is not a JSON object (an AdmissionReview)")
	}
	var ar admissionReview
	ok := false
	if fast {
		ar, ok = decodeReviewFast(body)
	}
	if !ok {
		ar = admissionReview{}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &ar); err != nil {
			if !json.Valid(body) {
				return admission.Request{}, v1, fmt.Errorf("the body is not valid JSON: %w", err)
			}
			return admission.Request{}, v1, fmt.Errorf("decode the AdmissionReview: %w", err)
		}
	}
	gvk := ar.GroupVersionKind()
	badKind := gvk.Kind != "" && gvk.Kind != "AdmissionReview"
	badVersion := ar.APIVersion != "" && gvk.GroupVersion() != admissionv1.SchemeGroupVersion &&
		gvk.GroupVersion() != admissionv1beta1.SchemeGroupVersion
	if badKind || badVersion {
		return admission.Request{}, v1, fmt.Errorf("the body is apiVersion %q, kind %q: want an AdmissionReview of %s or %s",
			ar.APIVersion, ar.Kind, admissionv1.SchemeGroupVersion, admissionv1beta1.SchemeGroupVersion)
	}
	if ar.APIVersion == "" || gvk.Kind == "" {
		gvk = v1
	}
	var req admission.Request
	if ar.Request != nil {
		req.AdmissionRequest = *ar.Request
	}
	if strings.ContainsRune(string(req.UID), utf8.RuneError) {
		// JSON decoding replaced invalid UTF-8 (or a lone surrogate escape)
		// with U+FFFD: the answer could not carry the uid that was sent, and
		// the apiserver's uids are UUIDs.
		return admission.Request{}, gvk, errors.New("request.uid is not valid UTF-8 (or holds U+FFFD): it could not be echoed as sent")
	}
	return req, gvk, nil
}

// writeReview writes resp as an AdmissionReview of version gvk.
func writeReview(w http.ResponseWriter, gvk schema.GroupVersionKind, resp *admissionv1.AdmissionResponse) {
	data, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind},
		Response: resp,
	})
	if err != nil {
		http.Error(w, "encode the AdmissionReview response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(data, '\n'))
}
