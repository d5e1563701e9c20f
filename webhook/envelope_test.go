package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

// liveCase is one review sent to the real HTTPS server and what its answer
// must be: refused with code (a 4xx) and a message naming every string of
// want, or admitted (allowed).
type liveCase struct {
	name    string
	path    string
	body    []byte
	allowed bool
	code    int32
	want    []string
}

func (c *liveCase) run(t *testing.T, l *liveServer) *admissionv1.AdmissionResponse {
	t.Helper()
	path := c.path
	if path == "" {
		path = MutatePath
	}
	resp, err := postReview(l, path, c.body)
	require.NoError(t, err)
	if c.allowed {
		require.True(t, resp.Allowed, "%+v", resp.Result)
		return resp
	}
	require.False(t, resp.Allowed, "admitted (patch %d bytes), want refused", len(resp.Patch))
	require.NotNil(t, resp.Result)
	require.Equal(t, c.code, resp.Result.Code, resp.Result.Message)
	for _, w := range c.want {
		require.Contains(t, resp.Result.Message, w)
	}
	return resp
}

// TestCountsLive: replica and worker counts are checked the same way on
// every kind, in full objects and in task templates, with the field path.
func TestCountsLive(t *testing.T) {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	examples := startLive(t, Options{})
	defaults := startLive(t, Options{Validator: &Validator{Registry: registry, Config: func() *config.Config { return cfg }}})
	create := func(obj map[string]any) []byte { return review(t, admissionv1.Create, obj, nil, false) }
	with := func(obj map[string]any, path string, v any) map[string]any {
		c := deepCopy(t, obj)
		setPath(t, c, path, v)
		return c
	}
	dask := mustExpand(t, cfg, readObjects(t, "../examples/dask-basic.yaml")[0].Map)
	ray := mustExpand(t, cfg, readObjects(t, "../examples/ray-train.yaml")[0].Map)
	spark := mustExpand(t, cfg, readObjects(t, "../examples/spark-pi.yaml")[0].Map)
	// sparkConf sets a key of spec.sparkConf (setPath would split it on dots).
	sparkConf := func(obj map[string]any, key, v string) map[string]any {
		c := deepCopy(t, obj)
		c["spec"].(map[string]any)["sparkConf"].(map[string]any)[key] = v
		return c
	}
	daskTmpl := func(workers string) []byte {
		return create(daskSkel("type: dask\ncontainer: {image: ghcr.io/dask/dask:1, args: [a]}\ncustom: {workers: {numberOfWorkers: " + workers + "}}"))
	}
	const workers = "spec.cluster.spec.worker.replicas"
	const tmpl = "metadata.annotations[flyte.org/task-template].custom"
	cases := []struct {
		liveCase
		server *liveServer
	}{
		{liveCase{name: "Dask worker replicas -7", path: ValidatePath, body: create(with(dask, workers, -7)),
			code: http.StatusUnprocessableEntity, want: []string{workers, "-7", "greater than or equal to 0"}}, defaults},
		{liveCase{name: "Dask worker replicas 2^31 (default policies)", path: ValidatePath, body: create(with(dask, workers, int64(1)<<31)),
			code: http.StatusUnprocessableEntity, want: []string{workers, "2147483648", "less than or equal to 2147483647"}}, defaults},
		{liveCase{name: "Dask worker replicas 2^31-1 (the largest int32)", path: ValidatePath, body: create(with(dask, workers, int64(1)<<31-1)),
			allowed: true}, defaults},
		{liveCase{name: "task numberOfWorkers 2^31", body: daskTmpl("2147483648"),
			code: http.StatusUnprocessableEntity, want: []string{tmpl + ".workers.numberOfWorkers", "2147483648", "less than or equal to 2147483647"}}, defaults},
		{liveCase{name: "task numberOfWorkers 2^32-1", body: daskTmpl("4294967295"),
			code: http.StatusUnprocessableEntity, want: []string{tmpl + ".workers.numberOfWorkers", "4294967295"}}, defaults},
		{liveCase{name: "task numberOfWorkers 2^31-1 expands", body: daskTmpl("2147483647"), allowed: true}, defaults},
		{liveCase{name: "task Ray worker group replicas -3", body: create(raySkel("type: ray\ncontainer: {image: rayproject/ray:2.10.0, args: [a]}\n" +
			"custom: {rayCluster: {workerGroupSpec: [{groupName: w, replicas: 1}, {groupName: v, replicas: -3}]}}")),
			code: http.StatusUnprocessableEntity, want: []string{tmpl + ".rayCluster.workerGroupSpec[1].replicas", "-3"}}, defaults},
		{liveCase{name: "task Spark executor instances 2^31", body: create(sparkSkel("type: spark\ncontainer: {image: ghcr.io/flyteorg/spark:1, args: [a]}\n" +
			"custom: {mainApplicationFile: local:///x.py, sparkConf: {spark.executor.instances: '2147483648'}}")),
			code: http.StatusUnprocessableEntity, want: []string{tmpl + ".sparkConf[spark.executor.instances]", "2147483648"}}, defaults},
		{liveCase{name: "Ray maxReplicas -1", path: ValidatePath, body: create(with(ray, "spec.rayClusterSpec.workerGroupSpecs.0.maxReplicas", -1)),
			code: http.StatusUnprocessableEntity, want: []string{"spec.rayClusterSpec.workerGroupSpecs[0].maxReplicas", "greater than or equal to 0"}}, defaults},
		{liveCase{name: "Spark dynamic allocation maxExecutors -2", path: ValidatePath,
			body: create(with(spark, "spec.dynamicAllocation", map[string]any{"enabled": true, "maxExecutors": -2})),
			code: http.StatusUnprocessableEntity, want: []string{"spec.dynamicAllocation.maxExecutors", "greater than or equal to 0"}}, defaults},
		{liveCase{name: "Spark sparkConf executor instances -4", path: ValidatePath,
			body: create(sparkConf(spark, "spark.executor.instances", "-4")),
			code: http.StatusUnprocessableEntity, want: []string{"spec.sparkConf[spark.executor.instances]", "greater than or equal to 0"}}, defaults},
		{liveCase{name: "max-resources per job names the replica count", path: ValidatePath, body: create(with(dask, workers, 1000)),
			code: http.StatusUnprocessableEntity, want: []string{workers + ": Forbidden: the job's 1002 pods use cpu"}}, examples},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, c.server)
		})
	}
}

// lineLog is a logger (default verbosity) that keeps every line it writes.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, prefix+" "+args)
}

func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// boundedCase starts a server whose policies warn on images and audit
// hostPaths and labels (logging to logged), and builds a review of more than
// 1.2 MB: a 600 KiB image, a 600 KiB hostPath path and 40 init containers
// from other registries.
func boundedCase(t *testing.T) (l *liveServer, body []byte, logged *lineLog) {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	set := mustPolicies(t, `
allowed-registries: {mode: warn, registries: [ghcr.io/flyteorg]}
forbid-host-path: {mode: audit}
required-labels: {mode: audit, labels: [team]}
`)
	logged = &lineLog{}
	l = startLive(t, Options{
		Log:       funcr.New(logged.add, funcr.Options{Verbosity: 0}),
		Validator: &Validator{Registry: registry, Config: func() *config.Config { return cfg }, Policies: func() *policy.Set { return set }},
	})
	full := deepCopy(t, mustExpand(t, cfg, readObjects(t, "../examples/dask-basic.yaml")[0].Map))
	secretPath := "/var/secret-host-dir-" + strings.Repeat("p", 600<<10)
	bigImage := "quay.io/other/" + strings.Repeat("i", 600<<10) + ":1"
	pod := "spec.cluster.spec.worker.spec"
	setPath(t, full, "spec.job.spec.containers.0.image", bigImage) // the first pod spec: the first warning
	setPath(t, full, pod+".volumes", []any{map[string]any{"name": "h", "hostPath": map[string]any{"path": secretPath}}})
	var inits []any
	for i := range 40 {
		inits = append(inits, map[string]any{"name": fmt.Sprintf("init-%d", i), "image": fmt.Sprintf("docker.io/other/init-%d:1", i)})
	}
	setPath(t, full, pod+".initContainers", inits)
	body = review(t, admissionv1.Create, full, nil, false)
	require.Greater(t, len(body), 1200<<10, "a request of more than 1.2 MB")
	return l, body, logged
}

// TestWarningsBoundedLive: warn-mode warnings are cut and counted like
// denials.
func TestWarningsBoundedLive(t *testing.T) {
	l, body, _ := boundedCase(t)
	resp, err := postReview(l, ValidatePath, body)
	require.NoError(t, err)
	require.True(t, resp.Allowed, "%+v", resp.Result)
	// 41 images break allowed-registries (the job runner's, the workers' 40
	// init containers): at most maxWarnings, each cut.
	total := 0
	for _, w := range resp.Warnings {
		require.LessOrEqual(t, len(w), maxWarningBytes+64, "a warning of %d bytes: %.200s", len(w), w)
		total += len(w)
	}
	require.Equal(t, maxWarnings+1, len(resp.Warnings), "warnings")
	require.Regexp(t, `^and 21 more warnings not shown$`, resp.Warnings[maxWarnings])
	require.Less(t, total, 32<<10)
	require.Contains(t, resp.Warnings[0], "allowed-registries: spec.job.spec.containers[0].image: Forbidden: image \"quay.io/other/iii")
	require.Contains(t, resp.Warnings[0], "more bytes)")
}

// TestAuditLogValueFreeLive: audit mode logs, at the default level, the
// request's identity, the policies and the field paths: never the object's
// values, and bounded.
func TestAuditLogValueFreeLive(t *testing.T) {
	l, body, logged := boundedCase(t)
	resp, err := postReview(l, ValidatePath, body)
	require.NoError(t, err)
	require.True(t, resp.Allowed, "%+v", resp.Result)
	lines := logged.all()
	var audits []string
	for _, line := range lines {
		require.LessOrEqual(t, len(line), 8<<10, "a log line of %d bytes: %.300s", len(line), line)
		require.False(t, strings.Contains(line, "secret-host-dir"), "the hostPath path was logged: %.300s", line)
		require.False(t, strings.Contains(line, "quay.io/other"), "the image was logged: %.300s", line)
		if strings.Contains(line, "policy violation (audit mode)") {
			audits = append(audits, line)
		}
	}
	require.Equal(t, 2, len(audits), "audit lines")
	joined := strings.Join(audits, "\n")
	for _, want := range []string{`"policy"="forbid-host-path"`, `"policy"="required-labels"`, "spec.cluster.spec.worker.spec.volumes[0].hostPath",
		"metadata.labels[team]", `"name"="dask-hello"`, `"uid"="uid-dask-hello"`, `"violations"=1`} {
		require.Contains(t, joined, want)
	}
}

// TestEnvelopeLive: request.object and oldObject must be JSON objects of the
// request's kind, and the uid must be valid UTF-8 (it is echoed as sent).
func TestEnvelopeLive(t *testing.T) {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	l := startLive(t, Options{})
	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	full := deepCopy(t, mustExpand(t, cfg, skeleton))
	ok := review(t, admissionv1.Create, skeleton, nil, false)
	withObject := func(body []byte, raw string) []byte {
		return editReview(t, body, func(r *admissionv1.AdmissionReview) { r.Request.Object.Raw = []byte(raw) })
	}
	asPod := func(obj map[string]any) map[string]any {
		c := deepCopy(t, obj)
		c["apiVersion"], c["kind"] = "v1", "Pod"
		return c
	}
	// A SparkApplication whose driver tolerates spot nodes (an enforced
	// invariant), updated: the stored object is given as a Pod with the same
	// violation.
	bad := parseYAML(t, interruptibleDriver)
	edited := deepCopy(t, bad)
	setPath(t, edited, "metadata.labels.edited", "yes")
	updateFromPod := review(t, admissionv1.Update, edited, asPod(bad), false)
	withUID := func(uid string) []byte {
		return bytes.Replace(editReview(t, ok, func(r *admissionv1.AdmissionReview) { r.Request.UID = "UIDMARK" }),
			[]byte(`"UIDMARK"`), []byte(`"`+uid+`"`), 1)
	}

	cases := []liveCase{
		{name: "object is a JSON string /mutate", body: withObject(ok, `"a string"`), code: http.StatusBadRequest,
			want: []string{"request.object is a JSON string, not a JSON object"}},
		{name: "object is a JSON string naming the annotation /mutate", body: withObject(ok, `"flyte.org/task-template"`), code: http.StatusBadRequest,
			want: []string{"request.object is a JSON string, not a JSON object"}},
		{name: "object is a JSON number /mutate", body: withObject(ok, `42`), code: http.StatusBadRequest,
			want: []string{"request.object is a JSON number"}},
		{name: "object is a JSON string /validate", path: ValidatePath, body: withObject(ok, `"a string"`), code: http.StatusBadRequest,
			want: []string{"request.object is a JSON string, not a JSON object"}},
		{name: "object of another kind, no annotation /mutate", body: withObject(ok, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`),
			code: http.StatusBadRequest, want: []string{`request.object is apiVersion "v1", kind "Pod"`}},
		{name: "oldObject is a JSON string /validate", path: ValidatePath, code: http.StatusBadRequest,
			body: editReview(t, updateFromPod, func(r *admissionv1.AdmissionReview) { r.Request.OldObject.Raw = []byte(`"old"`) }),
			want: []string{"request.oldObject is a JSON string"}},
		{name: "UPDATE: an oldObject of another kind does not excuse a violation /validate", path: ValidatePath, body: updateFromPod,
			code: http.StatusBadRequest, want: []string{`request.oldObject is apiVersion "v1", kind "Pod"`}},
		{name: "UPDATE: an oldObject of another kind /mutate", body: review(t, admissionv1.Update, full, asPod(full), false),
			code: http.StatusBadRequest, want: []string{`request.oldObject is apiVersion "v1", kind "Pod"`}},
		{name: "UPDATE: the same violation in the stored SparkApplication is excused /validate", path: ValidatePath,
			body: review(t, admissionv1.Update, edited, bad, false), allowed: true},
		{name: "uid that is not UTF-8 /mutate", body: withUID("uid-\xff\xfe-x"), code: http.StatusBadRequest,
			want: []string{"request.uid is not valid UTF-8"}},
		{name: "uid that is not UTF-8 /validate", path: ValidatePath, body: withUID("uid-\xc3-x"), code: http.StatusBadRequest,
			want: []string{"request.uid is not valid UTF-8"}},
		{name: "uid with a lone surrogate escape", body: withUID(`uid-\ud800-x`), code: http.StatusBadRequest,
			want: []string{"request.uid is not valid UTF-8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := c.run(t, l)
			if c.allowed {
				require.NotEmpty(t, resp.Warnings, "the pre-existing violation comes back as a warning")
			}
		})
	}

	t.Run("a UTF-8 uid is echoed as sent", func(t *testing.T) {
		uid := "uid-é-✓-<&>"
		resp, err := postReview(l, MutatePath, withUID(uid))
		require.NoError(t, err)
		require.True(t, resp.Allowed)
		require.Equal(t, uid, string(resp.UID))
	})
	t.Run("the fast and ordinary review decodings agree on bad uids", func(t *testing.T) {
		for _, uid := range []string{"uid-\xff", `uid-\ud800`, "uid-é"} {
			body := withUID(uid)
			_, _, fast := decodeReviewWith(body, true)
			_, _, slow := decodeReviewWith(body, false)
			require.Equal(t, fmt.Sprint(slow), fmt.Sprint(fast), uid)
		}
	})
}
