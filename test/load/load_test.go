package load_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyte-admission/flyte-admission/test/load"
	"github.com/flyte-admission/flyte-admission/test/watchtest"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

// TestRun checks the generator's accounting against a server that fails
// /fail, answers /wrong with another uid, denies /validate and allows the rest.
func TestRun(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var rv admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(body, &rv))
		uid := rv.Request.UID
		switch r.URL.Path {
		case "/fail":
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		case "/wrong":
			uid = "someone-else"
		}
		rv.Response = &admissionv1.AdmissionResponse{UID: uid, Allowed: r.URL.Path != "/validate"}
		rv.Request = nil
		_ = json.NewEncoder(w).Encode(&rv)
	}))
	defer srv.Close()
	var reqs []load.Request
	for _, p := range []string{"/mutate", "/validate", "/fail", "/wrong"} {
		uid := "uid" + p
		reqs = append(reqs, load.Request{Name: p, Path: p, UID: uid,
			Body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid + `"}}`)})
	}
	st := load.Run(context.Background(), srv.Client(), srv.URL, reqs, 400, time.Second)
	require.Equal(t, 400, st.Sent)
	require.Equal(t, 200, st.Errors, "/fail and /wrong")
	require.NotEmpty(t, st.FirstError)
	require.Equal(t, 100, st.Denied, "/validate")
	require.Positive(t, st.Achieved)
	require.LessOrEqual(t, st.P50, st.P99)
	require.LessOrEqual(t, st.P99, st.Max)
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Equal(t, time.Duration(5), load.Percentile(d, 50))
	require.Equal(t, time.Duration(10), load.Percentile(d, 99))
	require.Equal(t, time.Duration(1), load.Percentile(d, 0))
	require.Zero(t, load.Percentile(nil, 50))
}

// TestMix checks the request mix built from the examples: four requests per
// Spark, Ray and Dask object, unique uids, well-formed reviews.
func TestMix(t *testing.T) {
	root := watchtest.Root()
	reqs, err := load.Mix(filepath.Join(root, "examples"), filepath.Join(root, "examples", "config", "plugins.yaml"))
	require.NoError(t, err)
	require.Len(t, reqs, 9*4)
	uids := map[string]bool{}
	ops := map[string]int{}
	for _, r := range reqs {
		require.False(t, uids[r.UID], "duplicate uid %s", r.UID)
		uids[r.UID] = true
		var rv admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(r.Body, &rv), r.Name)
		require.Equal(t, r.UID, string(rv.Request.UID))
		require.NotEmpty(t, rv.Request.Object.Raw)
		if rv.Request.Operation == admissionv1.Update {
			require.NotEmpty(t, rv.Request.OldObject.Raw, r.Name)
		}
		ops[r.Path+" "+string(rv.Request.Operation)]++
	}
	require.Equal(t, map[string]int{"/mutate CREATE": 9, "/mutate UPDATE": 9, "/validate CREATE": 9, "/validate UPDATE": 9}, ops)

	_, err = load.Mix(t.TempDir(), filepath.Join(root, "examples", "config", "plugins.yaml"))
	require.ErrorContains(t, err, "no Spark, Ray or Dask objects")
}

// TestOpen checks the open loop on a call of its own: every index once,
// errors and denials counted, the mean between p50-ish bounds.
func TestOpen(t *testing.T) {
	seen := make([]int, 50)
	st := load.Open(context.Background(), 500, 100*time.Millisecond, func(_ context.Context, i int) (bool, string) {
		seen[i]++
		switch i % 5 {
		case 0:
			return false, "boom"
		case 1:
			return true, ""
		}
		return false, ""
	})
	require.Equal(t, 50, st.Sent)
	for i, n := range seen {
		require.Equal(t, 1, n, "call %d", i)
	}
	require.Equal(t, 10, st.Errors)
	require.Equal(t, "boom", st.FirstError)
	require.Equal(t, 10, st.Denied)
	require.Positive(t, st.Mean)
	require.LessOrEqual(t, st.Mean, st.Max)
}

// TestJobs checks that the skeletons stay skeletons and the expansions carry
// the expansion marker.
func TestJobs(t *testing.T) {
	root := watchtest.Root()
	jobs, err := load.Jobs(filepath.Join(root, "examples"), filepath.Join(root, "examples", "config", "plugins.yaml"))
	require.NoError(t, err)
	require.Len(t, jobs, 9)
	kinds := map[string]int{}
	for _, j := range jobs {
		kinds[j.GVK.Kind]++
		require.NotContains(t, j.Skeleton["metadata"].(map[string]any)["annotations"], task.ExpandedFromAnnotation, j.Source)
		require.Less(t, len(j.Skeleton["spec"].(map[string]any)), 2, "%s: the skeleton's spec as written", j.Source)
		require.Contains(t, j.Expanded["metadata"].(map[string]any)["annotations"], task.ExpandedFromAnnotation, j.Source)
		require.NotEmpty(t, j.Expanded["spec"], j.Source)
	}
	require.Equal(t, map[string]int{"SparkApplication": 3, "RayJob": 3, "DaskJob": 3}, kinds)
}

// TestMerge: two rounds merge as one run of all their calls.
func TestMerge(t *testing.T) {
	a := load.Stats{Target: 10, Sent: 4, Errors: 1, FirstError: "a", Achieved: 10, Mean: 2, Latencies: []time.Duration{1, 2, 2, 3}}
	b := load.Stats{Target: 10, Sent: 2, Denied: 1, Achieved: 5, Mean: 11, Latencies: []time.Duration{10, 12}}
	m := load.Merge(a, b)
	require.Equal(t, 6, m.Sent)
	require.Equal(t, 1, m.Errors)
	require.Equal(t, 1, m.Denied)
	require.Equal(t, "a", m.FirstError)
	require.InDelta(t, 6/0.8, m.Achieved, 1e-9, "6 calls in 0.4 s + 0.4 s")
	require.Equal(t, time.Duration(5), m.Mean)
	require.Equal(t, []time.Duration{1, 2, 2, 3, 10, 12}, m.Latencies)
	require.Equal(t, time.Duration(2), m.P50)
	require.Equal(t, time.Duration(12), m.P99)
	require.Equal(t, time.Duration(12), m.Max)
	require.Zero(t, load.Merge().Sent)
}
