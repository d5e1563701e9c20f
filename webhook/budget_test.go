package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/task"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// blockingHandler admits every request once release is closed, counting
// the requests it is still working on.
type blockingHandler struct {
	release chan struct{}
	working atomic.Int64
	started chan struct{}
}

func (h *blockingHandler) Handle(_ context.Context, _ admission.Request) admission.Response {
	h.working.Add(1)
	defer h.working.Add(-1)
	h.started <- struct{}{}
	<-h.release
	return admission.Allowed("")
}

// TestWorkOutlivingItsAnswerIsCounted: a review answered with a Timeout
// because its deadline passed keeps its place in the in-flight limit until
// its work ends, so abandoned work cannot pile up.
func TestWorkOutlivingItsAnswerIsCounted(t *testing.T) {
	h := &blockingHandler{release: make(chan struct{}), started: make(chan struct{}, 8)}
	l := startLive(t, Options{Mutator: h, MaxInFlight: 2, RequestTimeout: 100 * time.Millisecond})
	body := review(t, admissionv1.Create, readObjects(t, "../examples/spark-pi.yaml")[0].Map, nil, false)
	for range 2 {
		resp, err := postReview(l, MutatePath, body)
		require.NoError(t, err)
		require.False(t, resp.Allowed)
		require.Contains(t, resp.Result.Message, "deadline")
		<-h.started
	}
	require.Equal(t, int64(2), h.working.Load(), "both are still being worked on after their answers")
	_, err := postReview(l, MutatePath, body)
	require.ErrorContains(t, err, "HTTP 429", "abandoned work still holds its place")
	close(h.release)
	eventually(t, "the abandoned work ends", func() bool { return h.working.Load() == 0 })
	eventually(t, "its places are returned", func() bool { return l.Server.https.work.count.Load() == 0 })
	resp, err := postReview(l, MutatePath, body)
	require.NoError(t, err)
	require.True(t, resp.Allowed)
}

// TestTimeoutLogLineBounded: the line logged for a review answered Timeout
// names the request by a cut identity, however long the name a direct POST
// sent.
func TestTimeoutLogLineBounded(t *testing.T) {
	h := &blockingHandler{release: make(chan struct{}), started: make(chan struct{}, 1)}
	logged := &lineLog{}
	l := startLive(t, Options{Mutator: h, RequestTimeout: 100 * time.Millisecond, Log: funcr.New(logged.add, funcr.Options{})})
	obj := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	var r admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(review(t, admissionv1.Create, obj, nil, false), &r))
	r.Request.Name = strings.Repeat("n", 200<<10)
	body, err := json.Marshal(&r)
	require.NoError(t, err)
	resp, err := postReview(l, MutatePath, body)
	require.NoError(t, err)
	require.False(t, resp.Allowed)
	<-h.started
	close(h.release)
	var timeouts int
	for _, line := range logged.all() {
		if strings.Contains(line, "not answered in time") {
			timeouts++
			require.Less(t, len(line), 1<<10, "a %d-byte line: %.200s", len(line), line)
			require.Contains(t, line, "more bytes")
		}
	}
	require.Equal(t, 1, timeouts)
}

func TestBudget(t *testing.T) {
	b := newBudget(2*reviewCost(1000), 10)
	ctx := context.Background()
	t1, err := b.admit(ctx, 1000)
	require.NoError(t, err)
	// The memory is spent: a second review waits while its deadline lasts,
	// then is refused.
	short, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.admit(short, 1000)
	require.ErrorIs(t, err, errNoMemory)
	require.Equal(t, int64(1), b.count.Load())
	// The charge is returned when every holder let go.
	t1.hold()
	t1.done()
	_, err = b.admit(short, 1000)
	require.ErrorIs(t, err, errNoMemory)
	t1.done()
	require.Zero(t, b.count.Load())
	t2, err := b.admit(ctx, 1000)
	require.NoError(t, err)
	t2.done()
	// An undeclared length is priced at the largest body.
	require.Equal(t, reviewCost(MaxRequestBytes), reviewCost(-1))
	// The count limit answers at once.
	b = newBudget(1<<30, 1)
	t3, err := b.admit(ctx, 10)
	require.NoError(t, err)
	_, err = b.admit(ctx, 10)
	require.ErrorIs(t, err, errBusy)
	t3.done()
}

// amplifiers are skeletons of every amplification shape, each within the
// annotation limit, each of which the server must refuse naming a field.
func amplifiers() map[string]map[string]any {
	obj := func(apiVersion, kind, template string) map[string]any {
		return map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{
			"name": "amp", "namespace": "p-d", "annotations": map[string]any{task.TemplateAnnotation: template}}}
	}
	var alias strings.Builder
	alias.WriteString("type: spark\nmetadata: {discoveryVersion: &a \"" + strings.Repeat("x", 30_000) + "\"}\ncustom:\n  l: [")
	for i := range 11_000 {
		if i > 0 {
			alias.WriteByte(',')
		}
		alias.WriteString("*a")
	}
	alias.WriteString("]\n")
	var pods strings.Builder
	pods.WriteString(`{"type":"spark","custom":{"mainClass":"M"},"config":{"primary_container_name":"c0"},"k8sPod":{"podSpec":{"containers":[`)
	for i := range 6_000 {
		if i > 0 {
			pods.WriteByte(',')
		}
		fmt.Fprintf(&pods, `{"name":"c%d","image":"i"}`, i)
	}
	pods.WriteString(`]}}}`)
	groups := strings.TrimSuffix(strings.Repeat(`{"groupName":"g","replicas":1},`, 200), ",")
	return map[string]map[string]any{
		"YAML aliases":    obj("sparkoperator.k8s.io/v1beta2", "SparkApplication", alias.String()),
		"long list":       obj("ray.io/v1", "RayJob", `{"type":"ray","custom":{"l":[`+strings.TrimSuffix(strings.Repeat("1,", 120_000), ",")+`]}}`),
		"many containers": obj("sparkoperator.k8s.io/v1beta2", "SparkApplication", pods.String()),
		"many worker groups": obj("ray.io/v1", "RayJob", `{"type":"ray","container":{"image":"i","args":["`+strings.Repeat("a", 100<<10)+
			`"]},"custom":{"rayCluster":{"workerGroupSpec":[`+groups+`]}}}`),
	}
}

// TestAmplificationBatch sends every amplification shape many times at
// once through the real HTTPS server: each is refused naming the template
// field, the heap stays within the server's memory budget, nothing is kept
// afterwards, and a valid review is answered correctly right after.
func TestAmplificationBatch(t *testing.T) {
	l := startLive(t, Options{})
	task.SetCacheBytes(task.DefaultCacheBytes)
	var bodies [][]byte
	for _, obj := range amplifiers() {
		bodies = append(bodies, review(t, admissionv1.Create, obj, nil, false))
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	// Sample the heap while the batch runs.
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	const perShape = 60
	var wg sync.WaitGroup
	var refused, busy, timedOut, other atomic.Int64
	var firstOther atomic.Value
	for _, body := range bodies {
		for range perShape {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := postReview(l, MutatePath, body)
				switch {
				case err != nil && strings.Contains(err.Error(), "HTTP 429"):
					busy.Add(1)
				case err == nil && !resp.Allowed && resp.Result.Code == http.StatusUnprocessableEntity &&
					strings.Contains(resp.Result.Message, task.TemplateAnnotation):
					refused.Add(1)
				case err == nil && !resp.Allowed && (resp.Result.Code == http.StatusGatewayTimeout ||
					resp.Result.Code == http.StatusBadRequest && strings.Contains(resp.Result.Message, "i/o timeout")):
					// Queued behind the others on a small machine until the
					// deadline, reading the body included: not admitted either.
					timedOut.Add(1)
				default:
					other.Add(1)
					firstOther.CompareAndSwap(nil, fmt.Sprintf("%v %+v", err, resp))
				}
			}()
		}
	}
	wg.Wait()
	// Reviews answered at their deadline may still be working: they hold
	// their charge until they end.
	eventually(t, "every review's work has ended", func() bool { return l.Server.https.work.count.Load() == 0 })
	close(stop)
	<-sampled
	l.client.CloseIdleConnections()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d reviews: %d refused naming the template, %d answered 429, %d timed out; heap %d MiB before, peak %d MiB, %d MiB after",
		len(bodies)*perShape, refused.Load(), busy.Load(), timedOut.Load(), before.HeapAlloc>>20, peak.Load()>>20, after.HeapAlloc>>20)
	require.Zero(t, other.Load(), "an answer other than a refusal or 429: %v", firstOther.Load())
	require.Positive(t, refused.Load())
	// The in-flight work is bounded by the budget (the test's own bodies
	// and clients are on the heap too: 2x their size).
	var bodyBytes uint64
	for _, b := range bodies {
		bodyBytes += uint64(len(b)) * perShape
	}
	require.Less(t, peak.Load()-min(peak.Load(), before.HeapAlloc), uint64(DefaultMemoryBudget)+2*bodyBytes+64<<20)
	// Refused templates are not kept.
	require.Less(t, after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc), uint64(24<<20))
	resp, err := postReview(l, MutatePath, review(t, admissionv1.Create, readObjects(t, "../examples/spark-pi.yaml")[0].Map, nil, false))
	require.NoError(t, err)
	require.True(t, resp.Allowed)
	require.NotEmpty(t, resp.Patch)
}

// TestReviewCostBound measures what a review of each shape allocates (an
// upper bound of what it holds at once) and checks it against what the
// budget charges for it: reviewCost of its body, plus expansionBytes when
// it expands. The examples, their expansions sent again (UPDATE) and every
// amplification shape are measured.
func TestReviewCostBound(t *testing.T) {
	m, v := examplesHandlers(t)
	mutate, err := admissionHandler(mutateName, m, logr.Discard())
	require.NoError(t, err)
	validate, err := admissionHandler(validateName, v, logr.Discard())
	require.NoError(t, err)
	bodies := map[string][]byte{}
	for name, obj := range amplifiers() {
		bodies["amplifier: "+name] = review(t, admissionv1.Create, obj, nil, false)
	}
	for i, obj := range seedSkeletons(t) {
		bodies[fmt.Sprintf("skeleton %d", i)] = review(t, admissionv1.Create, obj, nil, false)
		if full := mustExpandOrNil(t, obj); full != nil {
			bodies[fmt.Sprintf("update of expansion %d", i)] = review(t, admissionv1.Update, obj, full, false)
		}
	}
	task.SetCacheBytes(0) // every review pays for its decoding
	defer task.SetCacheBytes(task.DefaultCacheBytes)
	var worst float64
	for name, body := range bodies {
		for _, h := range []http.Handler{mutate, validate} {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, req)
			runtime.ReadMemStats(&after)
			require.Equal(t, http.StatusOK, rec.Code, name)
			used := int64(after.TotalAlloc - before.TotalAlloc)
			charged := reviewCost(int64(len(body))) + expansionBytes
			worst = max(worst, float64(used)/float64(charged))
			require.Less(t, used, charged, "%s: %d bytes allocated for a %d-byte body, %d charged", name, used, len(body), charged)
		}
	}
	t.Logf("%d reviews: at most %.0f%% of their charge allocated", 2*len(bodies), 100*worst)
}
