package watchbench_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/flyte-admission/flyte-admission/test/freeport"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/flyte-admission/flyte-admission/test/bench/proc"
	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/flyte-admission/flyte-admission/test/watchtest"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8swatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Environment of the benchmark.
const (
	// GateEnv must be set (to anything but "" or "0") for TestWatchBench to
	// run: it takes minutes, so `go test ./...` skips it.
	GateEnv = "FLYTE_ADMISSION_BENCH_WATCH"
	// SizesEnv lists the object counts, comma-separated (default 1000,5000).
	SizesEnv = "BENCH_WATCH_SIZES"
	// RatesEnv lists the status-write rates per second of the storms run on
	// each size, comma-separated (default DefaultRates).
	RatesEnv = "BENCH_WATCH_RATES"
	// StormEnv is how long each storm writes, in seconds (default
	// DefaultStormSeconds; at most one write per object).
	StormEnv = "BENCH_WATCH_STORM_SECONDS"
	// BinaryEnv names a prebuilt flyte-admission binary (default: go build
	// ./cmd/flyte-admission once, into a temporary directory).
	BinaryEnv = "BENCH_WATCH_BINARY"
	// FlagsEnv adds flags to `flyte-admission serve` (space-separated), for
	// experiments such as --kube-api-qps=200.
	FlagsEnv = "BENCH_WATCH_SERVE_FLAGS"
	// ServeEnvEnv adds environment variables to the watcher process
	// (space-separated NAME=VALUE), e.g. GOMEMLIMIT=64MiB.
	ServeEnvEnv = "BENCH_WATCH_SERVE_ENV"
	// PprofEnv names a directory: the watcher then serves /debug/pprof/ and
	// the benchmark saves its heap profile after the sync and after the
	// storm there (watch-<objects>-{sync,storm}.heap).
	PprofEnv = "BENCH_WATCH_PPROF_DIR"
	// OutEnv is the JSON output file (default out/bench/watch.json under
	// the module root).
	OutEnv = "BENCH_WATCH_OUT"
)

// Defaults of the storms. Each status write costs the control plane 40-50 ms
// of CPU here (the write, the watcher's annotation patch, its Event and the
// watch fan-out of 5 KiB objects; measured: kube-apiserver + etcd at about one
// core for 20 writes/s and 1.2-1.5 cores for 30/s). On a 2-core machine
// shared with the watcher and the benchmark, 20/s leaves the apiserver
// headroom and 30/s is at its knee (its own write latency spikes);
// 100/s would need about 4 cores of control plane, so its lag would measure
// the apiserver's queue, not the watcher (BENCH_WATCH_RATES=100 shows it).
var DefaultRates = []float64{20, 30}

// DefaultStormSeconds is how long each storm writes.
const DefaultStormSeconds = 25

const (
	benchNS   = "bench"
	watcherNS = "flyte-admission" // the watcher's Lease
	// createWorkers concurrent creators with a raised client QPS.
	createWorkers = 8
	// writeWorkers concurrent status writers: enough that the writes keep
	// to the schedule while the apiserver is busy.
	writeWorkers = 32
	syncTimeout  = 5 * time.Minute
	stormTimeout = 3 * time.Minute
)

// kinds are the three expanded examples, created round-robin.
var kinds = []struct {
	name, file string
	gvk        schema.GroupVersionKind
	resource   string
	running    func(name string) map[string]any // the operator's status when the job runs
	success    func(name string) map[string]any // ... and when it has succeeded
}{
	{
		name: "SparkApplication", file: "spark-pi.yaml", resource: "sparkapplications",
		gvk: schema.GroupVersionKind{Group: "sparkoperator.k8s.io", Version: "v1beta2", Kind: "SparkApplication"},
		running: func(name string) map[string]any {
			return map[string]any{
				"applicationState": map[string]any{"state": "RUNNING"},
				"driverInfo":       map[string]any{"podName": name + "-driver", "webUIIngressAddress": "spark-ui.example.com/" + name},
			}
		},
		success: func(name string) map[string]any {
			return map[string]any{"applicationState": map[string]any{"state": "COMPLETED"}, "sparkApplicationId": name + "-0001",
				"terminationTime": "2026-01-02T03:04:05Z"}
		},
	},
	{
		name: "RayJob", file: "ray-train.yaml", resource: "rayjobs",
		gvk: schema.GroupVersionKind{Group: "ray.io", Version: "v1", Kind: "RayJob"},
		running: func(name string) map[string]any {
			return map[string]any{
				"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "jobId": name + "-x1",
				"rayClusterName": name + "-raycluster", "dashboardURL": name + "-head-svc." + benchNS + ":8265",
			}
		},
		success: func(string) map[string]any {
			return map[string]any{"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}
		},
	},
	{
		name: "DaskJob", file: "dask-basic.yaml", resource: "daskjobs",
		gvk: schema.GroupVersionKind{Group: "kubernetes.dask.org", Version: "v1", Kind: "DaskJob"},
		running: func(name string) map[string]any {
			return map[string]any{"jobStatus": "Running", "jobRunnerPodName": name + "-runner", "startTime": "2026-01-02T03:04:05Z"}
		},
		success: func(string) map[string]any {
			return map[string]any{"jobStatus": "Successful", "endTime": "2026-01-02T04:04:05Z"}
		},
	},
}

// Result is one size: the objects, the watcher's initial sync and the
// storms (out/bench/watch.json).
type Result struct {
	Objects        int            `json:"objects"`
	ByKind         map[string]int `json:"by_kind"`
	AvgObjectBytes int            `json:"avg_object_json_bytes"`
	Created        int            `json:"created"` // objects created for this run
	CreateSeconds  float64        `json:"create_seconds"`

	// SyncSeconds: watcher process start → every object's initial phase
	// seen on the objects.
	SyncSeconds     float64   `json:"sync_seconds"`
	SyncCPUSeconds  float64   `json:"sync_cpu_seconds"`
	RSSAfterSyncMiB float64   `json:"rss_after_sync_mib"`
	HWMAfterSyncMiB float64   `json:"hwm_after_sync_mib"`
	MemAfterSync    MemDetail `json:"memory_after_sync_mib"`

	Storms []Storm `json:"storms"`

	// PeakRSSMiB is the watcher's VmHWM at the end: its peak RSS.
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	ReconcileErrors float64 `json:"reconcile_errors"`
	EventsDropped   float64 `json:"events_dropped"`
	LogErrors       int     `json:"serve_log_errors"` // lines at level error in the watcher's log
	ServeFlags      string  `json:"serve_flags"`
}

// Storm is one storm of status writes at a fixed rate.
type Storm struct {
	StatusWrites    int     `json:"status_writes"`
	TargetRate      float64 `json:"target_rate_per_second"`
	AchievedRate    float64 `json:"achieved_rate_per_second"`
	WriteErrors     int     `json:"write_errors"`
	WriterLateP99Ms float64 `json:"writer_late_p99_ms"` // write start − its schedule
	WriterLateMaxMs float64 `json:"writer_late_max_ms"`
	Seconds         float64 `json:"seconds"` // first write → last report seen
	// Lag: status write sent → the new flyte.org/phase seen by a watch.
	Lag Dist `json:"lag_ms"`
	// Baseline: status write sent → the write itself seen by the same
	// watch (the apiserver's write and watch delivery).
	Baseline Dist `json:"baseline_ms"`
	// WatcherCPUSeconds is the watcher's CPU time during the storm;
	// ControlPlaneCPUPercent kube-apiserver + etcd's (100 = one core);
	// MachineBusyPercent the whole machine's (100 = every core).
	WatcherCPUSeconds      float64   `json:"watcher_cpu_seconds"`
	ControlPlaneCPUPercent float64   `json:"control_plane_cpu_percent"`
	MachineBusyPercent     float64   `json:"machine_busy_percent"`
	RSSAfterMiB            float64   `json:"rss_after_mib"`
	HWMAfterMiB            float64   `json:"hwm_after_mib"`
	MemAfter               MemDetail `json:"memory_after_mib"`
	LoadBefore             string    `json:"loadavg_before"`
	LoadAfter              string    `json:"loadavg_after"`
}

// Dist is a latency distribution in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func dist(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ms(ds[max(i, 0)])
	}
	return Dist{N: len(ds), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*10) / 10 }

func mib(b int64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }

// Report is out/bench/watch.json.
type Report struct {
	Date     string   `json:"date"`
	Machine  string   `json:"machine"`
	Targets  string   `json:"targets"`
	Results  []Result `json:"results"`
	Comments []string `json:"comments,omitempty"`
}

func TestWatchBench(t *testing.T) {
	if v := os.Getenv(GateEnv); v == "" || v == "0" {
		t.Skipf("the watcher benchmark takes minutes: run it with %s=1 (make bench-watch)", GateEnv)
	}
	ctrllog.SetLogger(logr.Discard())
	sizes := []int{1000, 5000}
	if v := os.Getenv(SizesEnv); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			require.NoError(t, err, SizesEnv)
			sizes = append(sizes, n)
		}
	}
	rates := DefaultRates
	if v := os.Getenv(RatesEnv); v != "" {
		rates = nil
		for _, s := range strings.Split(v, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			require.NoError(t, err, RatesEnv)
			require.Positive(t, r, RatesEnv)
			rates = append(rates, r)
		}
	}
	stormSeconds := float64(DefaultStormSeconds)
	if v := os.Getenv(StormEnv); v != "" {
		var err error
		stormSeconds, err = strconv.ParseFloat(v, 64)
		require.NoError(t, err, StormEnv)
	}
	bin := binary(t)
	report := Report{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: machine(),
		Targets: "lag p99 <= 1 s at 5,000 objects; watcher RSS <= 100 MiB",
	}
	for _, n := range sizes {
		if !t.Run(fmt.Sprintf("objects=%d", n), func(t *testing.T) {
			report.Results = append(report.Results, newBench(t, bin).run(t, n, rates, stormSeconds))
		}) {
			break
		}
	}
	table := renderTable(report)
	fmt.Print(table)
	out := outPath()
	require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
	data, err := json.MarshalIndent(report, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, append(data, '\n'), 0o644))
	fmt.Printf("wrote %s\n", out)
}

// binary builds the flyte-admission binary once (or takes BinaryEnv's).
func binary(t *testing.T) string {
	if b := os.Getenv(BinaryEnv); b != "" {
		abs, err := filepath.Abs(b)
		require.NoError(t, err)
		return abs
	}
	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	bin := filepath.Join(t.TempDir(), "flyte-admission")
	began := time.Now()
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/flyte-admission")
	cmd.Dir = watchtest.Root()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/flyte-admission: %s", out)
	t.Logf("built %s in %s", bin, time.Since(began).Round(time.Millisecond))
	return bin
}

// bench is a control plane with the objects of one size (run can also grow
// them, for a second watcher run on the same control plane).
type bench struct {
	t      *testing.T
	bin    string
	env    *testenv.Env
	c      client.Client
	protos []*unstructured.Unstructured
	names  []string // created so far, in order
	kindOf []int
	stage  []int // 0: as created, 1: Running written, 2: Success written
	obs    *observer
	storms []float64 // the rates of the storms run so far
	cp     []int     // pids of kube-apiserver and etcd
	bytes  int       // average JSON size of the objects
}

func newBench(t *testing.T, bin string) *bench {
	env := testenv.Start(t, testenv.Options{})
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	require.NoError(t, err)
	watchtest.Namespace(t, c, benchNS)
	watchtest.Namespace(t, c, watcherNS)
	b := &bench{t: t, bin: bin, env: env, c: c, cp: controlPlanePIDs(t, env.Config.Host)}
	pcfg := watchtest.PluginConfig(t)
	total := 0
	for _, k := range kinds {
		p := watchtest.Expanded(t, pcfg, k.file, benchNS, "proto")
		data, err := json.Marshal(p.Object)
		require.NoError(t, err)
		total += len(data)
		b.protos = append(b.protos, p)
	}
	b.bytes = total / len(kinds)
	b.obs = newObserver(t, cfg, c)
	return b
}

// run grows the object set to n, runs a watcher process, waits for its
// initial reports and runs one storm per rate.
func (b *bench) run(t *testing.T, n int, rates []float64, stormSeconds float64) Result {
	res := Result{Objects: n, ByKind: map[string]int{}, AvgObjectBytes: b.bytes, ServeFlags: os.Getenv(FlagsEnv)}
	have := len(b.names)
	require.GreaterOrEqual(t, n, have, "sizes must grow")
	for i := have; i < n; i++ {
		k := i % len(kinds)
		b.kindOf = append(b.kindOf, k)
		b.names = append(b.names, fmt.Sprintf("%s-%05d", strings.ToLower(kinds[k].name), i))
		b.stage = append(b.stage, 0)
	}
	for _, k := range b.kindOf {
		res.ByKind[kinds[k].name]++
	}
	res.Created = n - have
	began := time.Now()
	create(t, b.c, b.protos, b.names[have:], b.kindOf[have:])
	res.CreateSeconds = round2(time.Since(began).Seconds())
	t.Logf("created %d objects (now %v, ~%d B of JSON each) in %.1fs (%.0f/s)", res.Created, res.ByKind, b.bytes,
		res.CreateSeconds, float64(res.Created)/res.CreateSeconds)

	// The watcher, as its own process: it reports the new objects' initial
	// phases.
	w := startWatcher(t, b.bin, b.env.Kubeconfig, filepath.Join(filepath.Dir(outPath()), fmt.Sprintf("watch-%d-serve.log", n)))
	cpu0 := w.cpu(t)
	w.cpuProfile(t, fmt.Sprintf("watch-%d-sync.cpu", n), 5*time.Second, 20*time.Second)
	require.NoError(t, b.obs.waitAll(b.names[have:], nil, syncTimeout, w),
		"the watcher did not report every object's initial phase within %s", syncTimeout)
	var synced time.Time
	for _, name := range b.names[have:] {
		synced = maxTime(synced, b.obs.firstAny(name))
	}
	res.SyncSeconds = round2(synced.Sub(w.started).Seconds())
	time.Sleep(time.Second) // let the last reconciles and Events finish
	res.SyncCPUSeconds = round2(w.cpu(t) - cpu0)
	res.MemAfterSync = w.memory(t)
	res.RSSAfterSyncMiB, res.HWMAfterSyncMiB = res.MemAfterSync.RSS, res.MemAfterSync.HWM
	w.heapProfile(t, fmt.Sprintf("watch-%d-sync.heap", n))
	t.Logf("initial phases of %d new objects reported %.1fs after the watcher started (%.1f CPU s); RSS %.1f MiB, peak %.1f MiB",
		res.Created, res.SyncSeconds, res.SyncCPUSeconds, res.RSSAfterSyncMiB, res.HWMAfterSyncMiB)

	for _, rate := range rates {
		res.Storms = append(res.Storms, b.storm(t, w, rate, stormSeconds))
	}
	w.heapProfile(t, fmt.Sprintf("watch-%d-storm.heap", n))
	m := w.metrics(t)
	res.ReconcileErrors, res.EventsDropped = m[watch.MetricReconcileErrors], m[watch.MetricEventsDropped]
	res.PeakRSSMiB = w.memory(t).HWM
	res.LogErrors = countErrors(w.logPath) // before the shutdown's own messages
	w.stop(t)
	return res
}

// storm writes the next status of evenly spread objects (→ Running, or →
// Success for those already Running) at rate/s for about seconds, open-loop,
// and measures the lag of the watcher's reports.
func (b *bench) storm(t *testing.T, w *watcherProc, rate, seconds float64) Storm {
	n := len(b.names)
	var candidates []int
	for i, st := range b.stage {
		if st < 2 {
			candidates = append(candidates, i)
		}
	}
	writes := min(len(candidates), max(1, int(rate*seconds)))
	require.Positive(t, writes, "no object has a next status left")
	st := Storm{TargetRate: rate, StatusWrites: writes, LoadBefore: loadavg()}
	// Spread the writes over the objects, starting at a different place
	// than the previous storm.
	offset := (n / 7) * len(b.storms)
	b.storms = append(b.storms, rate)
	idx := make([]int, writes)
	want := make([]string, writes)
	for j := range idx {
		i := candidates[(j*len(candidates)/writes+offset)%len(candidates)]
		idx[j] = i
		b.stage[i]++
		want[j] = map[int]string{1: "Running", 2: "Success"}[b.stage[i]]
	}
	cpu0, cpBefore, busyBefore := w.cpu(t), b.controlPlaneCPU(t), machineBusy()
	ws := storm(t, b.c, b.names, b.kindOf, b.stage, idx, rate)
	first, last := ws[0].start, ws[0].start
	var late []time.Duration
	for _, wr := range ws {
		if wr.err != nil {
			st.WriteErrors++
			continue
		}
		late = append(late, wr.start.Sub(wr.sched))
		first, last = minTime(first, wr.start), maxTime(last, wr.start)
	}
	require.Zero(t, st.WriteErrors, "status writes failed: first %v", firstErr(ws))
	lateD := dist(late)
	st.WriterLateP99Ms, st.WriterLateMaxMs = lateD.P99, lateD.Max
	if d := last.Sub(first).Seconds(); d > 0 {
		st.AchievedRate = math.Round(float64(len(ws)-1)/d*10) / 10
	}
	storming := make([]string, writes)
	for j, i := range idx {
		storming[j] = b.names[i]
	}
	require.NoError(t, b.obs.waitAll(storming, want, stormTimeout, w),
		"the watcher did not report the new phase of every written object within %s", stormTimeout)
	var lags, base []time.Duration
	lastSeen := first
	for j, wr := range ws {
		at, ok := b.obs.firstPhase(storming[j], want[j])
		require.True(t, ok)
		lags = append(lags, at.Sub(wr.start))
		lastSeen = maxTime(lastSeen, at)
		if at, ok := b.obs.rvSeen(storming[j], wr.rv); ok {
			base = append(base, at.Sub(wr.start))
		}
	}
	st.Seconds = round2(lastSeen.Sub(first).Seconds())
	st.ControlPlaneCPUPercent = math.Round((b.controlPlaneCPU(t) - cpBefore) / st.Seconds * 100)
	st.MachineBusyPercent = math.Round(machineBusySince(busyBefore))
	st.Lag, st.Baseline = dist(lags), dist(base)
	b.writeTrace(t, n, rate, first, ws, storming, want)
	time.Sleep(time.Second)
	st.WatcherCPUSeconds = round2(w.cpu(t) - cpu0)
	st.MemAfter = w.memory(t)
	st.RSSAfterMiB, st.HWMAfterMiB = st.MemAfter.RSS, st.MemAfter.HWM
	st.LoadAfter = loadavg()
	t.Logf("storm: %d writes at %.1f/s (writer late p99 %.0f ms); lag p50 %.0f p90 %.0f p99 %.0f max %.0f ms; "+
		"baseline p50 %.0f p99 %.0f ms; control plane CPU %.0f%%, machine busy %.0f%%; RSS %.1f MiB, peak %.1f MiB; load %s",
		len(ws), st.AchievedRate, st.WriterLateP99Ms, st.Lag.P50, st.Lag.P90, st.Lag.P99, st.Lag.Max,
		st.Baseline.P50, st.Baseline.P99, st.ControlPlaneCPUPercent, st.MachineBusyPercent,
		st.RSSAfterMiB, st.HWMAfterMiB, st.LoadAfter)
	return st
}

// writeTrace writes, next to the JSON report, one CSV line per status write
// of the storm: when it was scheduled, sent and answered, when the watch saw
// the write and the reported phase (ms since the first write; -1: not seen).
func (b *bench) writeTrace(t *testing.T, n int, rate float64, t0 time.Time, ws []statusWrite, names, want []string) {
	var buf bytes.Buffer
	buf.WriteString("object,phase,scheduled_ms,sent_ms,answered_ms,write_seen_ms,phase_seen_ms\n")
	rel := func(at time.Time, ok bool) float64 {
		if !ok {
			return -1
		}
		return ms(at.Sub(t0))
	}
	for j, w := range ws {
		seen, okSeen := b.obs.rvSeen(names[j], w.rv)
		ph, okPh := b.obs.firstPhase(names[j], want[j])
		fmt.Fprintf(&buf, "%s,%s,%.1f,%.1f,%.1f,%.1f,%.1f\n", names[j], want[j],
			rel(w.sched, true), rel(w.start, true), rel(w.done, true), rel(seen, okSeen), rel(ph, okPh))
	}
	path := filepath.Join(filepath.Dir(outPath()), fmt.Sprintf("watch-%d-at-%g-writes.csv", n, rate))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// outPath is the JSON report's path.
func outPath() string {
	if out := os.Getenv(OutEnv); out != "" {
		return out
	}
	return filepath.Join(watchtest.Root(), "out", "bench", "watch.json")
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// create creates the objects with createWorkers concurrent requests.
func create(t *testing.T, c client.Client, protos []*unstructured.Unstructured, names []string, kindOf []int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range createWorkers {
		wg.Go(func() {
			for i := range next {
				obj := protos[kindOf[i]].DeepCopy()
				obj.SetName(names[i])
				if err := c.Create(ctx, obj); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("create %s: %w", names[i], err)
					}
					mu.Unlock()
					cancel()
				}
			}
		})
	}
	for i := range names {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	require.NoError(t, firstErr)
}

// statusWrite is one status patch of the storm.
type statusWrite struct {
	sched, start, done time.Time
	rv                 string // resourceVersion the write returned
	err                error
}

func firstErr(ws []statusWrite) error {
	for _, w := range ws {
		if w.err != nil {
			return w.err
		}
	}
	return nil
}

// storm writes the next status (stage[i]: 1 Running, 2 Success) of the
// objects idx, the j-th at start + j/rate whatever happened to the earlier
// ones (open-loop), with writeWorkers concurrent requests.
func storm(t *testing.T, c client.Client, names []string, kindOf, stage, idx []int, rate float64) []statusWrite {
	writes := make([]statusWrite, len(idx))
	jobs := make(chan int, len(idx))
	interval := time.Duration(float64(time.Second) / rate)
	t0 := time.Now().Add(100 * time.Millisecond)
	go func() {
		defer close(jobs)
		for j := range idx {
			at := t0.Add(time.Duration(j) * interval)
			time.Sleep(time.Until(at))
			writes[j].sched = at
			jobs <- j
		}
	}()
	ctx := context.Background()
	var wg sync.WaitGroup
	for range writeWorkers {
		wg.Go(func() {
			for j := range jobs {
				i := idx[j]
				k := kinds[kindOf[i]]
				status := k.running(names[i])
				if stage[i] == 2 {
					status = k.success(names[i])
				}
				obj := &unstructured.Unstructured{}
				obj.SetGroupVersionKind(k.gvk)
				obj.SetNamespace(benchNS)
				obj.SetName(names[i])
				w := &writes[j]
				w.start = time.Now()
				w.err = watchtest.PatchStatus(ctx, c, obj, status)
				w.done = time.Now()
				w.rv = obj.GetResourceVersion()
			}
		})
	}
	wg.Wait()
	return writes
}

// observer records, from a metadata-only watch of each kind in benchNS, when
// each object was first seen with each flyte.org/phase value and when each of
// its resourceVersions was seen.
type observer struct {
	mu     sync.Mutex
	phases map[string]map[string]time.Time // name → phase → first seen
	rvs    map[string]map[string]time.Time // name → resourceVersion → seen
	err    atomic.Pointer[error]
}

func newObserver(t *testing.T, cfg *rest.Config, c client.Client) *observer {
	o := &observer{phases: map[string]map[string]time.Time{}, rvs: map[string]map[string]time.Time{}}
	mc, err := metadata.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, k := range kinds {
		mapping, err := c.RESTMapper().RESTMapping(k.gvk.GroupKind(), k.gvk.Version)
		require.NoError(t, err)
		ri := mc.Resource(mapping.Resource).Namespace(benchNS)
		wg.Go(func() { o.run(ctx, ri) })
	}
	return o
}

// run watches until ctx ends, re-opening the watch where it stopped.
func (o *observer) run(ctx context.Context, ri metadata.ResourceInterface) {
	rv := ""
	for ctx.Err() == nil {
		w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() == nil {
				o.fail(fmt.Errorf("watch: %w", err))
			}
			return
		}
		for ev := range w.ResultChan() {
			now := time.Now()
			m, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				if ev.Type == k8swatch.Error {
					rv = "" // expired: start again from a fresh list
				}
				continue
			}
			rv = m.ResourceVersion
			if ev.Type == k8swatch.Bookmark {
				continue
			}
			o.note(m, now)
		}
		w.Stop()
	}
}

func (o *observer) fail(err error) { o.err.Store(&err) }

func (o *observer) note(m *metav1.PartialObjectMetadata, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rvs := o.rvs[m.Name]
	if rvs == nil {
		rvs = map[string]time.Time{}
		o.rvs[m.Name] = rvs
	}
	if _, ok := rvs[m.ResourceVersion]; !ok {
		rvs[m.ResourceVersion] = at
	}
	phase, ok := m.Annotations[watch.PhaseAnnotation]
	if !ok {
		return
	}
	ph := o.phases[m.Name]
	if ph == nil {
		ph = map[string]time.Time{}
		o.phases[m.Name] = ph
	}
	if _, ok := ph[phase]; !ok {
		ph[phase] = at
	}
}

// firstAny is when name was first seen with any phase (zero if never).
func (o *observer) firstAny(name string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var first time.Time
	for _, at := range o.phases[name] {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

func (o *observer) firstPhase(name, phase string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.phases[name][phase]
	return at, ok
}

func (o *observer) rvSeen(name, rv string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.rvs[name][rv]
	return at, ok
}

// waitAll waits until every object of names has been seen with its
// phase in want (with any phase when want is nil), the watch fails, the
// watcher process exits or timeout passes.
func (o *observer) waitAll(names, want []string, timeout time.Duration, w *watcherProc) error {
	deadline := time.Now().Add(timeout)
	pending := slices.Clone(names)
	var pendingWant []string
	if want != nil {
		pendingWant = slices.Clone(want)
	}
	for {
		o.mu.Lock()
		k := 0
		for j, name := range pending {
			ph := o.phases[name]
			done := len(ph) > 0
			if pendingWant != nil {
				_, done = ph[pendingWant[j]]
			}
			if !done {
				pending[k] = name
				if pendingWant != nil {
					pendingWant[k] = pendingWant[j]
				}
				k++
			}
		}
		pending = pending[:k]
		if pendingWant != nil {
			pendingWant = pendingWant[:k]
		}
		o.mu.Unlock()
		if len(pending) == 0 {
			return nil
		}
		if p := o.err.Load(); p != nil {
			return *p
		}
		if err := w.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d objects still pending after %s (e.g. %s)", len(pending), len(names), timeout, pending[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watcherProc is `flyte-admission serve --webhook=false` running as its own
// process.
type watcherProc struct {
	cmd         *exec.Cmd
	started     time.Time
	metricsAddr string
	pprofAddr   string
	logPath     string
	done        chan struct{}
	waitErr     error
}

// startWatcher starts the watcher process, its output going to logPath.
func startWatcher(t *testing.T, bin, kubeconfig, logPath string) *watcherProc {
	w := &watcherProc{metricsAddr: freeport.Loopback(t), done: make(chan struct{})}
	args := []string{"serve", "--webhook=false", "--watch=true",
		"--kubeconfig", kubeconfig, "--namespace", watcherNS,
		"--metrics-addr", w.metricsAddr, "--probe-addr", freeport.Loopback(t),
		"--config", filepath.Join(watchtest.Root(), "examples", "config", "plugins.yaml")}
	if os.Getenv(PprofEnv) != "" {
		w.pprofAddr = freeport.Loopback(t)
		args = append(args, "--pprof-addr", w.pprofAddr)
	}
	args = append(args, strings.Fields(os.Getenv(FlagsEnv))...)
	w.logPath = logPath
	require.NoError(t, os.MkdirAll(filepath.Dir(logPath), 0o755))
	logf, err := os.Create(w.logPath)
	require.NoError(t, err)
	w.cmd = exec.Command(bin, args...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	// The watcher runs with the Go runtime's defaults unless ServeEnvEnv
	// says otherwise: GOGC, GOMEMLIMIT or GODEBUG meant for the benchmark's
	// own process do not leak into it.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "GOGC" && name != "GOMEMLIMIT" && name != "GODEBUG" {
			w.cmd.Env = append(w.cmd.Env, kv)
		}
	}
	w.cmd.Env = append(w.cmd.Env, strings.Fields(os.Getenv(ServeEnvEnv))...)
	w.started = time.Now()
	require.NoError(t, w.cmd.Start())
	go func() {
		w.waitErr = w.cmd.Wait()
		logf.Close()
		close(w.done)
	}()
	t.Cleanup(func() { w.stop(t) })
	t.Logf("watcher: pid %d: %s %s", w.cmd.Process.Pid, bin, strings.Join(args, " "))
	return w
}

// exited is an error once the process has ended.
func (w *watcherProc) exited() error {
	select {
	case <-w.done:
		return fmt.Errorf("the watcher exited (%v); log:\n%s", w.waitErr, tail(w.logPath, 30))
	default:
		return nil
	}
}

func (w *watcherProc) stop(t *testing.T) {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Errorf("the watcher did not stop within 30s of SIGTERM; killing it")
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// MemDetail is where the watcher's memory goes: /proc/<pid>/status and the
// Go runtime's figures from its /metrics, in MiB.
type MemDetail struct {
	RSS       float64 `json:"vm_rss"`
	HWM       float64 `json:"vm_hwm"`
	RssAnon   float64 `json:"rss_anon"`
	RssFile   float64 `json:"rss_file"`
	HeapAlloc float64 `json:"go_heap_alloc"`
	HeapInuse float64 `json:"go_heap_inuse"`
	HeapIdle  float64 `json:"go_heap_idle_unreleased"`
	NextGC    float64 `json:"go_next_gc"`
	Stacks    float64 `json:"go_stack_inuse"`
	GoSys     float64 `json:"go_sys"`
}

// memory reads the process's memory figures.
func (w *watcherProc) memory(t *testing.T) MemDetail {
	pm, err := proc.ReadMemory(w.cmd.Process.Pid)
	require.NoError(t, err)
	m := w.metrics(t)
	g := func(name string) float64 { return mib(int64(m[name])) }
	return MemDetail{
		RSS: mib(pm.RSS), HWM: mib(pm.HWM), RssAnon: mib(pm.RssAnon), RssFile: mib(pm.RssFile),
		HeapAlloc: g("go_memstats_heap_alloc_bytes"), HeapInuse: g("go_memstats_heap_inuse_bytes"),
		HeapIdle: mib(int64(m["go_memstats_heap_idle_bytes"] - m["go_memstats_heap_released_bytes"])),
		NextGC:   g("go_memstats_next_gc_bytes"), Stacks: g("go_memstats_stack_inuse_bytes"), GoSys: g("go_memstats_sys_bytes"),
	}
}

// cpu is the process's user + system CPU time in seconds.
func (w *watcherProc) cpu(t *testing.T) float64 { return cpuSeconds(t, w.cmd.Process.Pid) }

// cpuSeconds is a process's user + system CPU time.
func cpuSeconds(t *testing.T, pid int) float64 {
	s, err := proc.CPUSeconds(pid)
	require.NoError(t, err)
	return s
}

// heapProfile saves the watcher's heap profile as name in PprofEnv's
// directory (when set).
func (w *watcherProc) heapProfile(t *testing.T, name string) {
	dir := os.Getenv(PprofEnv)
	if dir == "" {
		return
	}
	resp, err := http.Get("http://" + w.pprofAddr + "/debug/pprof/heap")
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
}

// cpuProfile saves, in the background, a CPU profile of the watcher from
// after to after+d as name in PprofEnv's directory (when set).
func (w *watcherProc) cpuProfile(t *testing.T, name string, after, d time.Duration) {
	dir := os.Getenv(PprofEnv)
	if dir == "" {
		return
	}
	go func() {
		time.Sleep(after)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", w.pprofAddr, int(d.Seconds())))
		if err != nil {
			fmt.Fprintf(os.Stderr, "cpu profile: %v\n", err)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}()
}

// metrics scrapes the watcher's /metrics: the sum over each metric's series.
func (w *watcherProc) metrics(t *testing.T) map[string]float64 {
	resp, err := http.Get("http://" + w.metricsAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
			rest = line[strings.LastIndexByte(line, '}')+2:]
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err == nil {
			out[name] += v
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// countErrors counts the error-level lines of a serve log (zap JSON).
func countErrors(path string) int {
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), `"level":"error"`)
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machine() string {
	cpus, model := 0, ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "processor") {
				cpus++
			}
			if v, ok := strings.CutPrefix(line, "model name"); ok && model == "" {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			}
		}
	}
	memTotal := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		memTotal = strings.Join(strings.Fields(line)[1:], " ")
	}
	return fmt.Sprintf("%d CPUs (%s), %s RAM", cpus, model, memTotal)
}

func renderTable(r Report) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nwatcher benchmark, %s, %s\n", r.Date, r.Machine)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects\tsync\tRSS synced\twrites\t/s\tlag p50\tp90\tp99\tmax\tbaseline p50\tp99\tapiserver+etcd\tmachine\twatcher CPU\tRSS after\tpeak RSS\tload 1m\t")
	for _, x := range r.Results {
		for i, st := range x.Storms {
			sync, rss := fmt.Sprintf("%.1fs", x.SyncSeconds), fmt.Sprintf("%.1f MiB", x.RSSAfterSyncMiB)
			if i > 0 {
				sync, rss = "", ""
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\t%.0f%%\t%.1fs\t%.1f MiB\t%.1f MiB\t%s→%s\t\n",
				x.Objects, sync, rss, st.StatusWrites, st.AchievedRate,
				fmtMs(st.Lag.P50), fmtMs(st.Lag.P90), fmtMs(st.Lag.P99), fmtMs(st.Lag.Max),
				fmtMs(st.Baseline.P50), fmtMs(st.Baseline.P99), st.ControlPlaneCPUPercent, st.MachineBusyPercent,
				st.WatcherCPUSeconds, st.RSSAfterMiB, st.HWMAfterMiB, first(st.LoadBefore), first(st.LoadAfter))
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(&b, "sync: watcher process start → initial phase of every object seen. lag: status write sent → new flyte.org/phase seen by a watch;")
	fmt.Fprintln(&b, "baseline: status write sent → the write itself seen by the same watch. apiserver+etcd: their CPU in the storm (100% = 1 core);")
	fmt.Fprintln(&b, "machine: all CPUs busy (100% = both); peak RSS: the watcher's VmHWM so far.")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "%d objects (created in %.1fs): peak RSS %.1f MiB (target ≤ 100 MiB: %s); lag p99",
			x.Objects, x.CreateSeconds, x.PeakRSSMiB, met(x.PeakRSSMiB <= 100))
		for _, st := range x.Storms {
			fmt.Fprintf(&b, " %s at %.0f/s (target ≤ 1 s: %s)", fmtMs(st.Lag.P99), st.TargetRate, met(st.Lag.P99 <= 1000))
		}
		fmt.Fprintf(&b, "; reconcile errors %.0f, Events dropped %.0f, errors logged %d\n", x.ReconcileErrors, x.EventsDropped, x.LogErrors)
	}
	return b.String()
}

func first(load string) string {
	f, _, _ := strings.Cut(load, " ")
	return f
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func fmtMs(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}

// controlPlanePIDs finds the kube-apiserver serving host (its
// --secure-port) and the etcd it uses (its --etcd-servers).
func controlPlanePIDs(t *testing.T, host string) []int {
	u, err := url.Parse(host)
	require.NoError(t, err)
	port := u.Port()
	cmdlines := map[int][]string{}
	dirs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		cmdlines[pid] = strings.Split(string(data), "\x00")
	}
	var pids []int
	etcdURL := ""
	for pid, args := range cmdlines {
		if len(args) == 0 || filepath.Base(args[0]) != "kube-apiserver" || !slices.Contains(args, "--secure-port="+port) {
			continue
		}
		pids = append(pids, pid)
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--etcd-servers="); ok {
				etcdURL = v
			}
		}
	}
	for pid, args := range cmdlines {
		if len(args) > 0 && filepath.Base(args[0]) == "etcd" && etcdURL != "" && slices.Contains(args, "--listen-client-urls="+etcdURL) {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 2 {
		t.Logf("found control plane processes %v for port %s (etcd %q); its CPU use will be incomplete", pids, port, etcdURL)
	}
	return pids
}

// controlPlaneCPU is the CPU seconds kube-apiserver and etcd have used.
func (b *bench) controlPlaneCPU(t *testing.T) float64 {
	total := 0.0
	for _, pid := range b.cp {
		total += cpuSeconds(t, pid)
	}
	return total
}

// machineBusy reads the busy and total jiffies of all CPUs.
func machineBusy() [2]float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return [2]float64{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var busy, total float64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return [2]float64{busy, total}
}

// machineBusySince is the machine's busy percentage since before.
func machineBusySince(before [2]float64) float64 {
	now := machineBusy()
	if now[1] <= before[1] {
		return 0
	}
	return (now[0] - before[0]) / (now[1] - before[1]) * 100
}
