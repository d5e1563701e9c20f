package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

// hostileCase is one malformed or hostile request to the real server. The
// correct answer is an HTTP 4xx (status) or an AdmissionReview refusal with
// a 4xx code, both with a message containing every string of want; a few
// documented cases must instead be admitted (allowed). Cases with run drive
// the connection themselves (slow clients, two-step requests).
type hostileCase struct {
	name    string
	method  string // default POST
	path    string // default /mutate
	ctype   string // default application/json; "-" sends none
	body    []byte
	chunked bool // send the body without a Content-Length
	header  map[string]string
	status  int // the HTTP status wanted, when not 200 + AdmissionReview
	code    int // the review's result code wanted (0: any 4xx)
	want    []string
	allowed bool
	check   func(*admissionv1.AdmissionResponse) error
	run     func(*liveServer) error
}

// TestHostileInputs sends malformed and hostile requests through the real
// HTTPS server (NewServer on 127.0.0.1, self-signed certificate, default
// limits and timeouts): every one must be answered with a 4xx or a refusal
// naming the problem, never a 5xx and never a hang.
func TestHostileInputs(t *testing.T) {
	l := startLive(t, Options{})
	cases := hostileCases(t)
	require.GreaterOrEqual(t, len(cases), 40)
	var tried, correct atomic.Int64
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				tried.Add(1)
				if err := c.try(l); err != nil {
					t.Errorf("%s: %v", c.name, err)
					return
				}
				correct.Add(1)
			})
		}
	})
	// The server still serves after all of that.
	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	resp, err := postReview(l, MutatePath, review(t, admissionv1.Create, skeleton, nil, false))
	require.NoError(t, err)
	require.True(t, resp.Allowed)
	require.NotEmpty(t, resp.Patch)
	t.Logf("hostile inputs: %d tried, %d answered correctly", tried.Load(), correct.Load())
	require.Equal(t, tried.Load(), correct.Load())
}

func postReview(l *liveServer, path string, body []byte) (*admissionv1.AdmissionResponse, error) {
	r, _, err := postReviewHTTP(l, path, body)
	return r, err
}

// postReviewHTTP is postReview that also says whether the server closes the
// connection after its answer.
func postReviewHTTP(l *liveServer, path string, body []byte) (_ *admissionv1.AdmissionResponse, closed bool, _ error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.Close, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.Close, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil || out.Response == nil {
		return nil, resp.Close, fmt.Errorf("not an AdmissionReview answer (%v): %.300s", err, data)
	}
	return out.Response, resp.Close, nil
}

// try sends the case and says what is wrong with the answer (nil: correct).
func (c *hostileCase) try(l *liveServer) error {
	if c.run != nil {
		return c.run(l)
	}
	method, path := c.method, c.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = MutatePath
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
		if c.chunked {
			body = io.MultiReader(body) // no Len: sent chunked
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, body)
	if err != nil {
		return err
	}
	switch c.ctype {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		req.Header.Set("Content-Type", c.ctype)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("no answer after %v: %w", time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("HTTP %d (5xx): %.300s", resp.StatusCode, data)
	}
	if c.status != 0 {
		if resp.StatusCode != c.status {
			return fmt.Errorf("HTTP %d, want %d: %.300s", resp.StatusCode, c.status, data)
		}
		return mentions(string(data), c.want)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d, want 200 and an AdmissionReview: %.300s", resp.StatusCode, data)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil || out.Response == nil {
		return fmt.Errorf("not an AdmissionReview answer (%v): %.300s", err, data)
	}
	r := out.Response
	var in admissionv1.AdmissionReview
	// Refusals of what could not be read as a review carry no uid.
	if json.Unmarshal(c.body, &in) == nil && in.Request != nil && in.Request.UID != "" && r.UID != in.Request.UID &&
		(r.UID != "" || r.Result == nil || r.Result.Code != http.StatusBadRequest) {
		return fmt.Errorf("answer uid %q, request uid %q", r.UID, in.Request.UID)
	}
	if c.allowed {
		if !r.Allowed {
			return fmt.Errorf("refused, want admitted: %v", r.Result)
		}
	} else {
		if r.Allowed {
			return fmt.Errorf("admitted (patch %d bytes), want refused", len(r.Patch))
		}
		if r.Result == nil {
			return errors.New("refused without a status")
		}
		if c.code != 0 && r.Result.Code != int32(c.code) {
			return fmt.Errorf("code %d, want %d: %s", r.Result.Code, c.code, r.Result.Message)
		}
		if r.Result.Code < 400 || r.Result.Code >= 500 {
			return fmt.Errorf("code %d, want a 4xx: %s", r.Result.Code, r.Result.Message)
		}
		if len(r.Result.Message) > 64<<10 {
			return fmt.Errorf("message of %d bytes", len(r.Result.Message))
		}
		if err := mentions(r.Result.Message, c.want); err != nil {
			return err
		}
	}
	if c.check != nil {
		return c.check(r)
	}
	return nil
}

func mentions(msg string, want []string) error {
	for _, w := range want {
		if !strings.Contains(msg, w) {
			return fmt.Errorf("the message does not name the problem (%q): %.500s", w, msg)
		}
	}
	return nil
}

// Builders of hostile objects and reviews.

func skel(apiVersion, kind string, annotations map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": "hostile", "namespace": "flytesnacks-development", "annotations": annotations},
		"spec":     map[string]any{},
	}
}

func sparkSkel(tmpl string) map[string]any {
	return skel("sparkoperator.k8s.io/v1beta2", "SparkApplication", map[string]any{"flyte.org/task-template": tmpl})
}

func raySkel(tmpl string) map[string]any {
	return skel("ray.io/v1", "RayJob", map[string]any{"flyte.org/task-template": tmpl})
}

func daskSkel(tmpl string) map[string]any {
	return skel("kubernetes.dask.org/v1", "DaskJob", map[string]any{"flyte.org/task-template": tmpl})
}

const (
	sparkTmpl = "type: spark\ncontainer: {image: ghcr.io/flyteorg/spark:1, args: [pyflyte-execute]%s}\ncustom: {mainApplicationFile: local:///x.py, applicationType: PYTHON}"
	rayTmpl   = "type: ray\ncontainer: {image: rayproject/ray:2.10.0, args: [pyflyte-execute]%s}\ncustom: {%srayCluster: {workerGroupSpec: [{groupName: w, replicas: 1}]}}"
)

// editReview decodes a review, lets f change it and encodes it again.
func editReview(t testing.TB, body []byte, f func(*admissionv1.AdmissionReview)) []byte {
	t.Helper()
	var r admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(body, &r))
	f(&r)
	return mustJSON(t, &r)
}

// editJSON decodes JSON into a generic map, lets f change it and encodes it.
func editJSON(t testing.TB, body []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	f(m)
	return mustJSON(t, m)
}

// setPath sets a dotted path (numbers index lists) in a decoded object.
func setPath(t testing.TB, obj map[string]any, path string, v any) {
	t.Helper()
	var cur any = obj
	parts := strings.Split(path, ".")
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = v
				return
			}
			if c[p] == nil {
				c[p] = map[string]any{}
			}
			cur = c[p]
		case []any:
			n, err := strconv.Atoi(p)
			require.NoError(t, err, path)
			if last {
				c[n] = v
				return
			}
			cur = c[n]
		default:
			t.Fatalf("setPath %s: %T at %s", path, cur, p)
		}
	}
}

const anchorBomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
	"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" +
	"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"

func hostileCases(t *testing.T) []*hostileCase {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	create := func(obj map[string]any) []byte { return review(t, admissionv1.Create, obj, nil, false) }
	spark := func(extra string) []byte { return create(sparkSkel(fmt.Sprintf(sparkTmpl, extra))) }
	ok := spark("")
	big := bytes.Repeat([]byte("a"), MaxRequestBytes+(1<<20))

	manyAnnotations := map[string]any{"flyte.org/task-template": fmt.Sprintf(sparkTmpl, "")}
	for i := range 10000 {
		manyAnnotations[fmt.Sprintf("example.com/annotation-%05d", i)] = "some value"
	}
	badKey := map[string]any{"flyte.org/task-template": fmt.Sprintf(sparkTmpl, ""), "bad key!": "x"}

	// Full objects (what the mutating webhook stores) for the validating one.
	rayFull := mustExpand(t, cfg, readObjects(t, "../examples/ray-train.yaml")[0].Map)
	sparkFull := mustExpand(t, cfg, readObjects(t, "../examples/spark-pi.yaml")[0].Map)
	negCPU := deepCopy(t, rayFull)
	setPath(t, negCPU, "spec.rayClusterSpec.headGroupSpec.template.spec.containers.0.resources.requests.cpu", "-1")
	hugeReplicas := deepCopy(t, rayFull)
	setPath(t, hugeReplicas, "spec.rayClusterSpec.workerGroupSpecs.0.replicas", json.Number("1e30"))
	negCores := deepCopy(t, sparkFull)
	setPath(t, negCores, "spec.driver.cores", -1)

	withExec := func(exec string) []byte {
		return create(skel("sparkoperator.k8s.io/v1beta2", "SparkApplication", map[string]any{
			"flyte.org/task-template": fmt.Sprintf(sparkTmpl, ""), "flyte.org/execution": exec}))
	}
	// Non-UTF-8 bytes cannot go through encoding/json: put them in afterwards.
	nonUTF8 := bytes.Replace(spark(", env: [{key: K, value: NONUTF8}]"), []byte("NONUTF8"), []byte("\xff\xfe\xfd"), 1)
	require.False(t, json.Valid(nonUTF8) && bytes.Contains(nonUTF8, []byte("NONUTF8")))

	withObject := func(raw string) []byte {
		return editReview(t, ok, func(r *admissionv1.AdmissionReview) { r.Request.Object.Raw = []byte(raw) })
	}

	return []*hostileCase{
		// HTTP: method, path, size, headers, protocol.
		{name: "GET /mutate", method: http.MethodGet, status: http.StatusMethodNotAllowed, want: []string{"method GET not allowed"}},
		{name: "GET /validate", method: http.MethodGet, path: ValidatePath, status: http.StatusMethodNotAllowed, want: []string{"method GET not allowed"}},
		{name: "PUT /mutate", method: http.MethodPut, body: ok, status: http.StatusMethodNotAllowed, want: []string{"method PUT not allowed"}},
		{name: "unknown path", path: "/admit", body: ok, status: http.StatusNotFound, want: []string{"404"}},
		{name: "body over the limit (Content-Length) /mutate", body: big, status: http.StatusRequestEntityTooLarge,
			want: []string{"more than the 7340032 allowed"}},
		{name: "body over the limit (Content-Length) /validate", path: ValidatePath, body: big, status: http.StatusRequestEntityTooLarge,
			want: []string{"more than the 7340032 allowed"}},
		{name: "body over the limit (chunked)", body: big, chunked: true, code: http.StatusRequestEntityTooLarge,
			want: []string{"request body is more than the 7340032 bytes allowed"}},
		{name: "header over 64 KiB", body: ok, header: map[string]string{"X-Big": strings.Repeat("h", 100<<10)},
			status: http.StatusRequestHeaderFieldsTooLarge, want: []string{"Request Header Fields Too Large"}},
		{name: "plain HTTP to the TLS port", run: plainHTTP},
		{name: "slowloris: headers one byte at a time", run: slowHeaders},
		{name: "slow TLS handshake (none at all)", run: noHandshake},
		{name: "slow body: one byte at a time", run: slowBody},

		// The AdmissionReview itself.
		{name: "empty body /mutate", body: []byte{}, code: http.StatusBadRequest, want: []string{"request body is empty"}},
		{name: "empty body /validate", path: ValidatePath, body: []byte{}, code: http.StatusBadRequest, want: []string{"request body is empty"}},
		{name: "content type text/plain", body: ok, ctype: "text/plain", want: []string{"contentType=text/plain, expected application/json"}},
		{name: "no content type", body: ok, ctype: "-", want: []string{"expected application/json"}},
		{name: "content type application/yaml", path: ValidatePath, body: []byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\n"),
			ctype: "application/yaml", want: []string{"contentType=application/yaml"}},
		{name: "invalid JSON", body: []byte(`{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {`), want: []string{"unexpected end of JSON input"}},
		{name: "not JSON at all", body: []byte("<AdmissionReview/>"), want: []string{"not JSON", "invalid character '<'"}},
		{name: "YAML sent as JSON", body: []byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest: {uid: x}\n"),
			want: []string{"not JSON"}},
		{name: "JSON array", path: ValidatePath, body: []byte(`[{"kind": "AdmissionReview"}]`), want: []string{"not a JSON object"}},
		{name: "non-UTF-8 bytes in the envelope", body: append([]byte("{\"apiVersion\":\"admission.k8s.io/v1\",\xff\xfe"), ok[1:]...),
			want: []string{"invalid character"}},
		{name: "AdmissionReview of admission.k8s.io/v2", body: editJSON(t, ok, func(m map[string]any) { m["apiVersion"] = "admission.k8s.io/v2" }),
			want: []string{"admission.k8s.io/v2"}},
		{name: "a Pod instead of an AdmissionReview", body: editJSON(t, ok, func(m map[string]any) { m["apiVersion"], m["kind"] = "v1", "Pod" }),
			want: []string{`"Pod"`}},
		{name: "AdmissionReview without a request", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
			want: []string{"no request.uid"}},
		{name: "missing uid", body: editReview(t, ok, func(r *admissionv1.AdmissionReview) { r.Request.UID = "" }), want: []string{"no request.uid"}},
		{name: "unknown fields in the review do not hide the object's problem",
			body: editJSON(t, spark(`, resources: {requests: [{name: CPU, value: "-1"}]}`), func(m map[string]any) {
				m["bogus"] = map[string]any{"x": 1}
				m["request"].(map[string]any)["alsoBogus"] = []any{1, 2}
			}), want: []string{`negative quantity "-1"`}},

		// The request's object.
		{name: "request.kind of another version", body: editReview(t, ok, func(r *admissionv1.AdmissionReview) { r.Request.Kind.Version = "v9" }),
			want: []string{"this webhook serves sparkoperator.k8s.io/v1beta2"}},
		{name: "request.kind of another version /validate", path: ValidatePath,
			body: editReview(t, create(sparkFull), func(r *admissionv1.AdmissionReview) { r.Request.Kind.Version = "v9" }),
			want: []string{"this webhook serves sparkoperator.k8s.io/v1beta2"}},
		{name: "object of another kind than the request", body: editReview(t, ok, func(r *admissionv1.AdmissionReview) {
			r.Request.Object.Raw = mustJSON(t, raySkel(fmt.Sprintf(rayTmpl, "", "")))
		}), want: []string{`request.object is apiVersion "ray.io/v1", kind "RayJob"`}},
		{name: "object of another kind than the request /validate", path: ValidatePath,
			body: editReview(t, create(sparkFull), func(r *admissionv1.AdmissionReview) { r.Request.Object.Raw = mustJSON(t, rayFull) }),
			want: []string{`kind "RayJob"`}},
		{name: "CREATE without an object /mutate", body: editReview(t, ok, func(r *admissionv1.AdmissionReview) { r.Request.Object.Raw = nil }),
			want: []string{"request.object is missing"}},
		{name: "CREATE without an object /validate", path: ValidatePath,
			body: editReview(t, ok, func(r *admissionv1.AdmissionReview) { r.Request.Object.Raw = nil }), want: []string{"request.object is missing"}},
		{name: "object is a JSON array", body: withObject(`["task-template"]`), want: []string{"request.object is a JSON array, not a JSON object"}},
		{name: "annotation value is a number", body: withObject(`{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication",` +
			`"metadata":{"annotations":{"flyte.org/task-template":5}}}`), want: []string{"decode request.object", "cannot unmarshal number"}},
		{name: "non-UTF-8 bytes in the task template", body: nonUTF8, want: []string{"not valid UTF-8"}},
		{name: "UPDATE with an undecodable old object", body: editReview(t, ok, func(r *admissionv1.AdmissionReview) {
			r.Request.Operation = admissionv1.Update
			r.Request.OldObject.Raw = []byte(`[]`)
		}), want: []string{"request.oldObject is a JSON array, not a JSON object"}},

		// The task template and execution annotations.
		{name: "SparkApplication carrying a ray task", body: create(sparkSkel(fmt.Sprintf(rayTmpl, "", ""))),
			code: http.StatusUnprocessableEntity, want: []string{`a "ray" task expands into a RayJob, not a SparkApplication`}},
		{name: "RayJob carrying a spark task", body: create(raySkel(fmt.Sprintf(sparkTmpl, ""))),
			code: http.StatusUnprocessableEntity, want: []string{`a "spark" task expands into a SparkApplication, not a RayJob`}},
		{name: "unknown task type", body: create(daskSkel("type: python-task\ncontainer: {image: x:1}")),
			want: []string{`unknown task type "python-task"`}},
		{name: "missing container (spark)", body: create(sparkSkel("type: spark\ncustom: {mainApplicationFile: local:///x.py}")),
			want: []string{"the template needs a container"}},
		{name: "missing container (dask)", body: create(daskSkel("type: dask\ncustom: {workers: {numberOfWorkers: 2}}")),
			want: []string{"the template needs a container"}},
		{name: "task template over 256 KiB", body: create(sparkSkel(fmt.Sprintf(sparkTmpl, "") + "\n# " + strings.Repeat("x", 300<<10))),
			want: []string{"metadata.annotations", "262144"}},
		{name: "10000 annotations (over 256 KiB together)", body: create(skel("sparkoperator.k8s.io/v1beta2", "SparkApplication", manyAnnotations)),
			want: []string{"metadata.annotations", "262144"}},
		{name: "invalid annotation key", body: create(skel("sparkoperator.k8s.io/v1beta2", "SparkApplication", badKey)),
			want: []string{"bad key!"}},
		{name: "deeply nested YAML sequences", body: create(sparkSkel("type: spark\ncustom: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000))),
			want: []string{"flyte.org/task-template"}},
		{name: "deeply nested YAML mappings", body: create(sparkSkel("type: spark\ncustom: " + strings.Repeat("{a: ", 5000) + "1" + strings.Repeat("}", 5000))),
			want: []string{"flyte.org/task-template", "more bytes)"}},
		{name: "deeply nested JSON", body: create(sparkSkel(`{"type":"spark","custom":` + strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000) + "}")),
			want: []string{"flyte.org/task-template", "more than 32768 values"}},
		{name: "YAML anchor bomb in the task template", body: create(sparkSkel("type: spark\n" + anchorBomb)),
			want: []string{"flyte.org/task-template", "aliases expanded"}},
		{name: "YAML anchor bomb in the execution annotation", body: withExec(anchorBomb),
			want: []string{"flyte.org/execution", "aliases expanded"}},
		{name: "NUL byte in the task template", body: create(sparkSkel("type: spark\x00\n")),
			want: []string{"flyte.org/task-template"}},
		{name: "unknown field in the execution annotation", body: withExec(`{"name": "a", "bogus": 1}`),
			want: []string{"flyte.org/execution", `unknown field "bogus"`}},
		{name: "execution annotation of the wrong type", body: withExec(`{"interruptible": "yes"}`),
			want: []string{"flyte.org/execution", "interruptible"}},
		{name: "negative retry attempt", body: withExec(`{"retryAttempt": -1}`),
			want: []string{"flyte.org/execution", "retryAttempt"}},
		{name: "negative CPU request", body: spark(`, resources: {requests: [{name: CPU, value: "-1"}]}`),
			want: []string{"container.resources.requests[0].value", `negative quantity "-1"`}},
		{name: "memory that is not a quantity", body: spark(`, resources: {limits: [{name: MEMORY, value: "lots"}]}`),
			want: []string{"container.resources.limits[0].value", `"lots"`}},
		{name: "invalid base64 runtime env", body: create(raySkel(fmt.Sprintf(rayTmpl, "", "runtimeEnv: '!!not base64', "))),
			want: []string{"custom.runtimeEnv", "not valid base64"}},
		{name: "base64 runtime env that is not JSON", body: create(raySkel(fmt.Sprintf(rayTmpl, "", "runtimeEnv: aGVsbG8gd29ybGQ=, "))),
			want: []string{"custom.runtimeEnv", "not a JSON object"}},
		{name: "PodTemplate that does not exist", body: create(sparkSkel("type: spark\nmetadata: {podTemplateName: nope}\n" +
			"container: {image: s:1, args: [a]}\ncustom: {mainApplicationFile: local:///x.py}")),
			want: []string{"podTemplateName", "PodTemplate 'nope' does not exist"}},
		// Flyte leaves template variables it does not know verbatim (only
		// {{.Inputs.x}} fails there, and no inputs exist at admission):
		// admitted, the variable unchanged.
		{name: "template variable that does not exist (kept verbatim, as Flyte does)", allowed: true,
			body: create(sparkSkel("type: spark\ncontainer: {image: s:1, args: ['{{.nope}}', '{{ .Inputs.x }}']}\ncustom: {mainApplicationFile: local:///x.py}")),
			check: func(r *admissionv1.AdmissionResponse) error {
				return mentions(string(r.Patch), []string{`{{.nope}}`, `{{ .Inputs.x }}`})
			}},

		// Quantities in full objects (the validating webhook).
		{name: "negative CPU request in a pod /validate", path: ValidatePath, body: create(negCPU),
			want: []string{"headGroupSpec.template.spec.containers[0].resources.requests[cpu]", "must be greater than or equal to 0"}},
		{name: "replicas 1e30 /validate", path: ValidatePath, body: create(hugeReplicas), want: []string{"1e30"}},
		{name: "negative Spark driver cores /validate", path: ValidatePath, body: create(negCores),
			want: []string{"spec.driver.cores", "must be greater than or equal to 0"}},
		{name: "CPU 1e30: expanded, then refused by max-resources", run: func(l *liveServer) error {
			return absurdCPU(t, l)
		}},
	}
}

// absurdCPU: a task asking for 1e30 CPUs is expanded as Flyte would, and the
// validating webhook refuses the result (examples' max-resources policy).
func absurdCPU(t *testing.T, l *liveServer) error {
	obj := raySkel(fmt.Sprintf(rayTmpl, `, resources: {requests: [{name: CPU, value: "1e30"}]}`, ""))
	resp, err := postReview(l, MutatePath, review(t, admissionv1.Create, obj, nil, false))
	if err != nil {
		return err
	}
	if !resp.Allowed || len(resp.Patch) == 0 {
		return fmt.Errorf("mutate: want a patch, got %v", resp.Result)
	}
	full := apply(t, obj, resp)
	resp, err = postReview(l, ValidatePath, review(t, admissionv1.Create, full, nil, false))
	if err != nil {
		return err
	}
	if resp.Allowed {
		return errors.New("validate: 1e30 CPUs admitted")
	}
	return mentions(resp.Result.Message, []string{"cpu", "1e30"})
}

// plainHTTP: an HTTP request to the TLS port is answered 400.
func plainHTTP(l *liveServer) error {
	conn, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return mentions(string(body), []string{"HTTP request to an HTTPS server"})
}

// cutOff waits (at most maxWait, against a hang) until the server closes
// conn, calling trickle (if any) every 200ms meanwhile. (How long the server
// waits is its configuration, checked by TestServerLimits; that it closes is
// the event.)
func cutOff(conn net.Conn, maxWait time.Duration, trickle func() error) error {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 4096)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(maxWait)
	for {
		select {
		case <-closed:
			return nil
		case <-tick.C:
			if trickle != nil {
				_ = trickle() // a write error is the server having closed: the read says so
			}
		case <-deadline:
			return fmt.Errorf("still connected after %v: not cut off", maxWait)
		}
	}
}

// slowHeaders: headers sent one byte every 200ms, never finished, are cut
// off by the read-header timeout.
func slowHeaders(l *liveServer) error {
	conn, err := tls.Dial("tcp", l.addr, l.tlsConfig())
	if err != nil {
		return err
	}
	defer conn.Close()
	head := []byte("POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
	i := 0
	// The headers are never complete: only the read-header timeout can end
	// this (over TLS, net/http answers it with a 400 before closing).
	return cutOff(conn, DefaultReadHeaderTimeout+4*time.Second, func() error {
		b := byte('z')
		if i < len(head) {
			b = head[i]
		}
		i++
		_, err := conn.Write([]byte{b})
		return err
	})
}

// noHandshake: a TCP connection that never starts TLS is closed by the
// handshake timeout (the read-header timeout).
func noHandshake(l *liveServer) error {
	conn, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	return cutOff(conn, DefaultReadHeaderTimeout+4*time.Second, nil)
}

// slowBody: a body trickled one byte every 200ms is cut off by the read
// timeout (answered with a refusal or the connection closed), not waited
// for.
func slowBody(l *liveServer) error {
	conn, err := tls.Dial("tcp", l.addr, l.tlsConfig())
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"); err != nil {
		return err
	}
	answered := make(chan error, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- nil // closed without an answer: cut off
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			answered <- fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
			return
		}
		answered <- mentions(string(body), []string{"i/o timeout"})
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(DefaultReadTimeout + 5*time.Second)
	for {
		select {
		case err := <-answered: // the refusal names the timeout ("i/o timeout")
			return err
		case <-tick.C:
			_, _ = conn.Write([]byte(" "))
		case <-deadline:
			return errors.New("still reading the body: not cut off")
		}
	}
}
