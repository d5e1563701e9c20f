package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

const conformanceDir = "../cmd/flyte-admission/testdata/conformance"

// FuzzMutate: any bytes POSTed to /mutate (through the review decoding and
// the guarded handler, as the server serves them) get an AdmissionReview answer that is either a JSON patch
// that applies to the request's object or a refusal with a message and a 4xx
// code; never a panic (it would be answered 500: the guard's log shows the
// stack) or a 5xx.
func FuzzMutate(f *testing.F) {
	for _, obj := range seedSkeletons(f) {
		f.Add(review(f, admissionv1.Create, obj, nil, false))
		full := mustExpandOrNil(f, obj)
		if full != nil {
			f.Add(review(f, admissionv1.Update, obj, full, false)) // a new template over an expanded object
			f.Add(review(f, admissionv1.Create, full, nil, true))  // already expanded (reinvocation)
		}
	}
	addMalformedSeeds(f)
	m, _ := examplesHandlers(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, in := fuzzServe(t, mutateName, m, body)
		if !resp.Allowed {
			return
		}
		if len(resp.Patch) == 0 {
			return
		}
		if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patch without the JSONPatch type: %+v", resp)
		}
		patch, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("patch does not decode: %v: %s", err, resp.Patch)
		}
		if in == nil || in.Request == nil {
			t.Fatalf("a patch for a request that does not decode")
		}
		out, err := patch.Apply(in.Request.Object.Raw)
		if err != nil {
			t.Fatalf("patch does not apply to the object: %v\npatch: %s", err, resp.Patch)
		}
		if !json.Valid(out) {
			t.Fatalf("patched object is not JSON: %s", out)
		}
	})
}

// FuzzValidate: any bytes POSTed to /validate get an AdmissionReview answer
// that admits (perhaps with warnings), never with a patch, or refuses with a
// message and a 4xx code; never a panic or a 5xx.
func FuzzValidate(f *testing.F) {
	for _, obj := range seedSkeletons(f) {
		f.Add(review(f, admissionv1.Create, obj, nil, false))
		if full := mustExpandOrNil(f, obj); full != nil {
			f.Add(review(f, admissionv1.Create, full, nil, false))
			f.Add(review(f, admissionv1.Update, full, full, false))
		}
	}
	for _, pattern := range []string{"/*/*/expected.json", "/*/*/object.json"} {
		files, _ := filepath.Glob(conformanceDir + pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			var obj map[string]any
			if json.Unmarshal(data, &obj) == nil && obj["kind"] != nil && obj["apiVersion"] != nil {
				if obj["metadata"] == nil {
					obj["metadata"] = map[string]any{}
				}
				obj["metadata"].(map[string]any)["name"] = "seed"
				f.Add(review(f, admissionv1.Create, obj, nil, false))
			}
		}
	}
	addMalformedSeeds(f)
	_, v := examplesHandlers(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, _ := fuzzServe(t, validateName, v, body)
		if len(resp.Patch) > 0 || resp.PatchType != nil {
			t.Fatalf("the validating webhook answered a patch: %+v", resp)
		}
	})
}

// fuzzServe POSTs body to h served as the server serves it and checks the
// common invariants: an HTTP 200 AdmissionReview answer; a refusal has a
// message and a 4xx code. It returns the answer and the decoded request
// (nil when the body is not a review).
func fuzzServe(t *testing.T, name string, h admission.Handler, body []byte) (*admissionv1.AdmissionResponse, *admissionv1.AdmissionReview) {
	t.Helper()
	handler, err := admissionHandler(name, h, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/"+name, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body.Bytes())
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("not an AdmissionReview answer (%v): %s", err, rec.Body.Bytes())
	}
	resp := out.Response
	if !resp.Allowed {
		if resp.Result == nil || resp.Result.Message == "" {
			t.Fatalf("refused without a message: %+v", resp)
		}
		if resp.Result.Code < 400 || resp.Result.Code >= 500 {
			t.Fatalf("refused with code %d (want a 4xx): %s", resp.Result.Code, resp.Result.Message)
		}
	}
	var in admissionv1.AdmissionReview
	if sigsjson.UnmarshalCaseSensitivePreserveInts(body, &in) != nil {
		return resp, nil
	}
	return resp, &in
}

// seedSkeletons are the examples' and the conformance cases' skeletons.
func seedSkeletons(f testing.TB) []map[string]any {
	files, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob(conformanceDir + "/*/*/skeleton.yaml")
	var out []map[string]any
	for _, file := range append(files, more...) {
		for _, o := range readObjects(f, file) {
			if o.Map["kind"] == "Namespace" {
				continue
			}
			out = append(out, o.Map)
		}
	}
	if len(out) < 10 {
		f.Fatalf("only %d seed objects", len(out))
	}
	return out
}

// mustExpandOrNil is the offline expansion of obj with the examples'
// configuration, or nil when it does not expand.
func mustExpandOrNil(f testing.TB, obj map[string]any) map[string]any {
	out, err := offline(f, loadConfig(f, "../examples/config/plugins.yaml"), nil, obj)
	if err != nil {
		return nil
	}
	return out
}

func addMalformedSeeds(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u","kind":{"group":"ray.io","version":"v1","kind":"RayJob"},"operation":"CREATE","object":{"apiVersion":"ray.io/v1","kind":"RayJob","metadata":{"annotations":{"flyte.org/task-template":"type: ray"}}}}}`,
		`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"group":"kubernetes.dask.org","version":"v1","kind":"DaskJob"},"operation":"UPDATE","object":{"apiVersion":"kubernetes.dask.org/v1","kind":"DaskJob","metadata":{"annotations":{"flyte.org/task-template":"{\"type\":\"dask\"}"}},"spec":[]},"oldObject":[]}}`,
		`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","kind":{"group":"sparkoperator.k8s.io","version":"v1beta2","kind":"SparkApplication"},"operation":"CREATE","object":{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication","metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"driver":{"cores":-1}}}}}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeReview: decodeReview through its fast path gives, for any body,
// the request, version and error the ordinary decoding gives.
func FuzzDecodeReview(f *testing.F) {
	for _, obj := range seedSkeletons(f) {
		f.Add(review(f, admissionv1.Create, obj, nil, false))
		if full := mustExpandOrNil(f, obj); full != nil {
			f.Add(review(f, admissionv1.Update, obj, full, true))
		}
	}
	addMalformedSeeds(f)
	for _, s := range []string{
		`{"request":{"object":null,"oldObject":{},"options":[1,"x",true,null,-0.5e+3]}}`,
		`{"request":{"object":{"a":"\u00e9\"\\\/\b\f\n\r\t"},"object":{}}}`,
		`{"request":{"obj\u0065ct":{"a":1}}}`, `{"request":null}`, `{"request":"x"}`, `{"request":{}} x`,
		`{"request":{"object":{"a":01}}}`, `{"request":{"object":{"a":"` + "\x01" + `"}}}`, "{\"request\":{\"object\":\"\xff\"}}",
		`{"request":{"Object":{"a":1},"userInfo":{"object":{}}}}`, `{"request":{"uid":5,"object":{}}}`,
		`{"request":{},"request":{"object":{}}}`, `{"request":{"object":[` + strings.Repeat("[", 120) + strings.Repeat("]", 120) + `]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		wantReq, wantGVK, wantErr := decodeReviewWith(body, false)
		gotReq, gotGVK, gotErr := decodeReviewWith(body, true)
		if wantErr != nil {
			require.EqualError(t, gotErr, wantErr.Error())
			return
		}
		require.NoError(t, gotErr)
		require.Equal(t, wantGVK, gotGVK)
		require.Equal(t, wantReq, gotReq)
	})
}

// TestDecodeReviewLexical compares the two ways of decodeReview on every byte
// in a string of the object, every escape, and numbers and literals of
// every shape, in the object and in a member decoded the ordinary way; and
// checks that the reviews of the skeletons take the fast path.
func TestDecodeReviewLexical(t *testing.T) {
	var values []string
	for b := 0; b < 256; b++ {
		values = append(values, `"a`+string([]byte{byte(b)})+`b"`, `"\`+string([]byte{byte(b)})+`"`)
	}
	for _, u := range []string{`0041`, `00e9`, `d83d`, `D83D\ude00`, `12g4`, `123`, `ffff`, `FFFF`} {
		values = append(values, `"\u`+u+`"`)
	}
	for _, n := range []string{"0", "-0", "01", "-01", "1.", "1.5", ".5", "1e", "1e+", "1e-3", "1E5", "-", "--1", "+1",
		"1.5e-3", "2e+10", "1x", "0.0e0", "123456789012345678901234567890", "true", "false", "null", "tru", "truex", "nul", "nulll",
		"[]", "[1,]", "[,]", "{}", `{"a":}`, `{"a" 1}`, `{,}`, `{"a":1,}`, "[1 2]", `{"a":1 "b":2}`} {
		values = append(values, n)
	}
	for _, v := range values {
		for _, body := range []string{
			`{"request":{"uid":"u","object":{"k":` + v + `}}}`,
			`{"request":{"uid":"u","oldObject":[` + v + `]}}`,
			`{"request":{"uid":"u","name":` + v + `}}`,
			`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":` + v + `,"request":{"options":` + v + `}}`,
		} {
			wantReq, wantGVK, wantErr := decodeReviewWith([]byte(body), false)
			gotReq, gotGVK, gotErr := decodeReviewWith([]byte(body), true)
			if wantErr != nil {
				require.EqualError(t, gotErr, wantErr.Error(), body)
				continue
			}
			require.NoError(t, gotErr, body)
			require.Equal(t, wantGVK, gotGVK, body)
			require.Equal(t, wantReq, gotReq, body)
		}
	}
	for _, obj := range seedSkeletons(t) {
		body := review(t, admissionv1.Create, obj, nil, false)
		ar, ok := decodeReviewFast(body)
		require.True(t, ok, "the review of a skeleton did not take the fast path")
		require.NotEmpty(t, ar.Request.Object.Raw)
	}
}
