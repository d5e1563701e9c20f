package webhook

import (
	"bytes"
	"encoding/json"
	"github.com/go-logr/logr"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

var (
	registry  = builtin.Registry()
	fixedTime = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	fixedNow  = func() time.Time { return fixedTime }
)

// loadConfig reads a plugin configuration file ("" = defaults).
func loadConfig(t testing.TB, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return cfg
}

// readObjects reads every document of a YAML file.
func readObjects(t testing.TB, path string) []objects.Object {
	t.Helper()
	objs, err := objects.ReadPath(path)
	require.NoError(t, err)
	return objs
}

// parseYAML decodes one YAML object.
func parseYAML(t testing.TB, doc string) map[string]any {
	t.Helper()
	objs, err := objects.Read(strings.NewReader(doc))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	return objs[0].Map
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return data
}

var resources = map[string]string{"SparkApplication": "sparkapplications", "RayJob": "rayjobs", "DaskJob": "daskjobs"}

// review builds an AdmissionReview (v1) for obj, as the apiserver sends it.
func review(t testing.TB, op admissionv1.Operation, obj, old map[string]any, dryRun bool) []byte {
	t.Helper()
	subject := obj
	if subject == nil {
		subject = old
	}
	av, _ := subject["apiVersion"].(string)
	kind, _ := subject["kind"].(string)
	gv, err := schema.ParseGroupVersion(av)
	require.NoError(t, err)
	meta, _ := subject["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	res := resources[kind]
	if res == "" {
		res = strings.ToLower(kind) + "s"
	}
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("uid-" + name),
		Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: kind},
		Resource:  metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: res},
		Name:      name,
		Namespace: ns,
		Operation: op,
		DryRun:    &dryRun,
	}
	if obj != nil {
		req.Object.Raw = mustJSON(t, obj)
	}
	if old != nil {
		req.OldObject.Raw = mustJSON(t, old)
	}
	return mustJSON(t, &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
}

// serve posts an AdmissionReview to h (served the way the webhook server
// serves it) and returns the response.
func serve(t testing.TB, h admission.Handler, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	handler, err := admissionHandler("test", h, logr.Discard())
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return responseOf(t, rec.Body.Bytes())
}

func responseOf(t testing.TB, data []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	var out admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(data, &out), string(data))
	require.NotNil(t, out.Response, string(data))
	return out.Response
}

// causes lists the fields a denial names.
func causes(r *admissionv1.AdmissionResponse) []string {
	out := []string{}
	if r.Result == nil || r.Result.Details == nil {
		return out
	}
	for _, c := range r.Result.Details.Causes {
		out = append(out, c.Field)
	}
	return out
}
