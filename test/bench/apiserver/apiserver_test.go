package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyte-admission/flyte-admission/test/bench/apiserver"
	"github.com/flyte-admission/flyte-admission/test/bench/proc"
	"github.com/flyte-admission/flyte-admission/test/load"
	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/flyte-admission/flyte-admission/test/watchtest"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Environment of TestAPIServerBench (make bench-apiserver).
const (
	// BenchEnv=1 runs the benchmark (about three minutes with the default
	// seconds).
	BenchEnv = "FLYTE_ADMISSION_BENCH_APISERVER"
	// SecondsEnv: measured seconds per configuration and rate (default 10).
	SecondsEnv = "FLYTE_ADMISSION_BENCH_APISERVER_SECONDS"
	// RoundsEnv: rounds per rate (default 2); each configuration runs
	// seconds/rounds per round.
	RoundsEnv = "FLYTE_ADMISSION_BENCH_APISERVER_ROUNDS"
	// OutEnv: path of the JSON report (default out/bench/apiserver.json).
	OutEnv = "FLYTE_ADMISSION_BENCH_APISERVER_OUT"
)

var rates = []float64{20, 50, 100}

// warmup precedes each measured run at its rate, unmeasured: the apiserver
// opens its connections to a newly registered webhook.
const warmup = time.Second

// Names of the no-op webhook's registration: flyte-admission's own
// configurations under other names, so the apiserver's metrics tell the
// two apart.
const (
	noopConfigName = "bench-noop"
	noopMutating   = "expand.noop.bench.flyte.org"
	noopValidating = "validate.noop.bench.flyte.org"
	noopPolicies   = "policies.noop.bench.flyte.org"
)

// setup is one configuration: its registration and the objects it creates.
type setup struct {
	name    string
	creates string
	// mutating and validating are nil for no webhook.
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	// objects are the JSON objects created round robin.
	objects [][]byte
	// expanded: the stored objects carry the expansion marker.
	expanded bool
	// server is the webhook's process (nil for no webhook).
	server *load.Server
}

// called is the names of the webhooks the apiserver calls for the example
// jobs (all carry the task template): the mutating one and the validating
// one for templated objects.
func (s setup) called() []string {
	if s.mutating == nil {
		return nil
	}
	return []string{s.mutating.Webhooks[0].Name, s.validating.Webhooks[0].Name}
}

// TestAPIServerBench measures the latency of a create through a real
// kube-apiserver + etcd under three configurations interleaved at each
// rate, and checks what each stored: every create succeeded, flyte-admission
// expanded every object, the others none, and the apiserver called exactly
// the configuration's webhooks once per create and admission step.
func TestAPIServerBench(t *testing.T) {
	if os.Getenv(BenchEnv) != "1" {
		t.Skipf("set %s=1 to run the benchmark of create latency through the apiserver (make bench-apiserver)", BenchEnv)
	}
	began := time.Now()
	seconds := 10.0
	if s := os.Getenv(SecondsEnv); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, SecondsEnv)
		require.Positive(t, v, SecondsEnv)
		seconds = v
	}
	rounds := 2
	if s := os.Getenv(RoundsEnv); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err, RoundsEnv)
		require.Positive(t, v, RoundsEnv)
		rounds = v
	}
	root := watchtest.Root()
	examples, pluginsConfig := filepath.Join(root, "examples"), filepath.Join(root, "examples", "config", "plugins.yaml")
	jobs, err := load.Jobs(examples, pluginsConfig)
	require.NoError(t, err)
	reqs, err := load.Mix(examples, pluginsConfig)
	require.NoError(t, err)

	bin := t.TempDir()
	load.Build(t, root, filepath.Join(bin, "flyte-admission"), "./cmd/flyte-admission")
	load.Build(t, root, filepath.Join(bin, "noop"), "./test/load/noop")
	certDir := filepath.Join(t.TempDir(), "certs")
	ca := load.Certs(t, certDir)
	hc, err := load.Client(ca)
	require.NoError(t, err)
	ours := load.Start(t, "flyte-admission", filepath.Join(bin, "flyte-admission"), "serve", "--webhook", "--watch=false",
		"--cert-dir", certDir, "--config", pluginsConfig, "--policies", filepath.Join(root, "examples", "config", "policies.yaml"),
		"--probe-addr", "127.0.0.1:0", "--metrics-addr", "0", "--shutdown-delay", "0s")
	noop := load.Start(t, "noop controller-runtime", filepath.Join(bin, "noop"), "--cert-dir", certDir)
	for _, s := range []*load.Server{ours, noop} {
		s.WaitServing(t, hc, reqs)
	}

	env := testenv.Start(t, testenv.Options{})
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 10000, 10000
	// The Dask expansions' spec.cluster.metadata is not in the CRD's schema
	// (the apiserver prunes it, with a warning per create).
	cfg.WarningHandler = rest.NoWarnings{}
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	kc, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()

	setups := setups(t, jobs, ours, noop, ca)
	namespaces := map[string]bool{}
	for _, j := range jobs {
		ns := j.Skeleton["metadata"].(map[string]any)["namespace"].(string)
		if !namespaces[ns] {
			namespaces[ns] = true
			_, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			require.NoError(t, err)
		}
	}
	b := &bench{t: t, dyn: dyn, kc: kc, jobs: jobs, setups: setups, namespaces: namespaces}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		pids, err := proc.Children(os.Getpid(), name)
		require.NoError(t, err)
		require.Len(t, pids, 1, "%s processes started by this test", name)
		b.controlPlane = append(b.controlPlane, pids[0])
	}

	report := apiserver.Report{Date: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), Seconds: seconds, Rounds: rounds, Rates: rates, Jobs: len(jobs)}
	for _, s := range setups {
		report.Configs = append(report.Configs, apiserver.Config{Name: s.name, Creates: s.creates, Runs: make([]apiserver.Run, len(rates))})
	}
	d := time.Duration(seconds / float64(rounds) * float64(time.Second))
	run := 0
	for i, rate := range rates {
		var order []string
		runs := make([][]apiserver.Run, len(setups))
		for round := range rounds {
			// The starting configuration rotates with the rate and the
			// round, so that none always runs first after a switch or last
			// before one.
			for k := range setups {
				c := (i + round + k) % len(setups)
				order = append(order, setups[c].name)
				run++
				r := b.measure(ctx, c, run, rate, d)
				runs[c] = append(runs[c], r)
				t.Logf("%s at %.0f/s, round %d: %d creates, achieved %.1f/s, p50 %s, p99 %s, errors %d, webhook calls %d",
					setups[c].name, rate, round+1, r.Sent, r.Achieved, r.P50, r.P99, r.Errors, r.WebhookCalls)
			}
		}
		for c := range setups {
			report.Configs[c].Runs[i] = merge(runs[c])
		}
		report.Order = append(report.Order, order)
	}
	report.ElapsedSeconds = time.Since(began).Seconds()

	fmt.Println()
	apiserver.Print(os.Stdout, &report)
	out := os.Getenv(OutEnv)
	if out == "" {
		out = filepath.Join(root, "out", "bench", "apiserver.json")
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
	data, err := json.MarshalIndent(&report, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, append(data, '\n'), 0o644))
	fmt.Printf("wrote %s (%.0f s)\n", out, report.ElapsedSeconds)
}

// measure switches to configuration c, creates for a warm-up and then for
// d at rate, checks what was stored and the webhook calls the apiserver
// made, and deletes the objects.
func (b *bench) measure(ctx context.Context, c, run int, rate float64, d time.Duration) apiserver.Run {
	t, s := b.t, b.setups[c]
	t.Helper()
	b.switchTo(ctx, c)
	before := b.webhookCalls(ctx)
	warm := load.Open(ctx, rate, warmup, b.create(c, fmt.Sprintf("w%d", run), rate, warmup))
	calls := b.create(c, fmt.Sprintf("r%d", run), rate, d)
	cpu0, cp0 := b.cpuSeconds(c), b.controlPlaneCPU()
	st := load.Open(ctx, rate, d, calls)
	cpu, cp := b.cpuSeconds(c)-cpu0, b.controlPlaneCPU()-cp0
	after := b.webhookCalls(ctx)
	require.Zero(t, warm.Errors, "%s at %.0f/s, warm-up: %s", s.name, rate, warm.FirstError)
	require.Zero(t, st.Errors, "%s at %.0f/s: %s", s.name, rate, st.FirstError)
	creates := warm.Sent + st.Sent
	b.checkStored(ctx, c, creates)
	r := apiserver.Run{Stats: st, Warmup: warm.Sent, WebhookCPUSeconds: cpu, ControlPlaneCPUSeconds: cp}
	for _, name := range webhookNames(b.setups) {
		n := after[name] - before[name]
		if slices.Contains(s.called(), name) {
			require.Equal(t, creates, n, "%s at %.0f/s: calls to %s, one per create", s.name, rate, name)
			r.WebhookCalls += n
		} else {
			require.Zero(t, n, "%s at %.0f/s: calls to %s, not registered", s.name, rate, name)
		}
	}
	b.deleteAll(ctx)
	return r
}

// cpuSeconds is the CPU time so far of configuration c's webhook server (0
// for no webhook).
func (b *bench) cpuSeconds(c int) float64 {
	p := b.setups[c].server
	if p == nil {
		return 0
	}
	v, err := proc.CPUSeconds(p.Cmd.Process.Pid)
	require.NoError(b.t, err)
	return v
}

// controlPlaneCPU is the CPU time so far of kube-apiserver and etcd.
func (b *bench) controlPlaneCPU() float64 {
	total := 0.0
	for _, pid := range b.controlPlane {
		v, err := proc.CPUSeconds(pid)
		require.NoError(b.t, err)
		total += v
	}
	return total
}

// merge is one configuration's rounds at one rate as one run.
func merge(rounds []apiserver.Run) apiserver.Run {
	var m apiserver.Run
	var stats []load.Stats
	for _, r := range rounds {
		stats = append(stats, r.Stats)
		m.Warmup += r.Warmup
		m.WebhookCalls += r.WebhookCalls
		m.WebhookCPUSeconds += r.WebhookCPUSeconds
		m.ControlPlaneCPUSeconds += r.ControlPlaneCPUSeconds
	}
	m.Stats = load.Merge(stats...)
	return m
}

// setups returns the three configurations in apiserver.NoWebhook, Noop,
// Ours order. flyte-admission is registered by webhook's registration
// objects (the chart's) with the URL of the local server; the no-op by the
// same objects under other names. The ValidatingAdmissionPolicy is left
// out: it runs inside the apiserver, and refuses what no webhook expanded.
func setups(t *testing.T, jobs []load.Job, ours, noop *load.Server, ca []byte) []setup {
	t.Helper()
	var skeletons, expanded [][]byte
	for _, j := range jobs {
		s, err := json.Marshal(j.Skeleton)
		require.NoError(t, err)
		skeletons = append(skeletons, s)
		// What Flyte's propeller creates: the expansion without our marker.
		var m map[string]any
		e, err := json.Marshal(j.Expanded)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(e, &m))
		annotations := m["metadata"].(map[string]any)["annotations"].(map[string]any)
		require.Contains(t, annotations, task.ExpandedFromAnnotation, j.Source)
		delete(annotations, task.ExpandedFromAnnotation)
		e, err = json.Marshal(m)
		require.NoError(t, err)
		expanded = append(expanded, e)
	}
	oursReg := webhook.RegistrationOptions{URL: ours.URL, CABundle: ca}
	noopReg := webhook.RegistrationOptions{Name: noopConfigName, URL: noop.URL, CABundle: ca}
	noopM, noopV := webhook.MutatingWebhookConfiguration(noopReg), webhook.ValidatingWebhookConfiguration(noopReg)
	noopM.Webhooks[0].Name = noopMutating
	noopV.Webhooks[0].Name, noopV.Webhooks[1].Name = noopValidating, noopPolicies
	return []setup{
		apiserver.NoWebhook: {name: "no webhook", creates: "expanded objects", objects: expanded},
		apiserver.Noop: {name: "no-op webhook", creates: "expanded objects", objects: expanded,
			mutating: noopM, validating: noopV, server: noop},
		apiserver.Ours: {name: "flyte-admission", creates: "skeletons", objects: skeletons, expanded: true, server: ours,
			mutating: webhook.MutatingWebhookConfiguration(oursReg), validating: webhook.ValidatingWebhookConfiguration(oursReg)},
	}
}

type bench struct {
	t          *testing.T
	dyn        dynamic.Interface
	kc         kubernetes.Interface
	jobs       []load.Job
	setups     []setup
	namespaces map[string]bool
	// controlPlane are the process ids of kube-apiserver and etcd.
	controlPlane []int
}

func gvr(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	for _, r := range webhook.Resources {
		if r.GroupVersion() == gvk.GroupVersion() && strings.EqualFold(r.Resource, strings.ToLower(gvk.Kind)+"s") {
			return r
		}
	}
	panic("no resource for " + gvk.String())
}

// create returns the open loop's call for rate×d creates: create job
// i%len(jobs) of configuration c under the name prefix-i. The objects are
// decoded before the loop starts, so a call is the client-go create alone.
func (b *bench) create(c int, prefix string, rate float64, d time.Duration) func(context.Context, int) (bool, string) {
	objs := make([]*unstructured.Unstructured, int(math.Round(rate*d.Seconds())))
	for i := range objs {
		u := &unstructured.Unstructured{}
		require.NoError(b.t, u.UnmarshalJSON(b.setups[c].objects[i%len(b.jobs)]))
		u.SetName(fmt.Sprintf("%s-%d", prefix, i))
		objs[i] = u
	}
	return func(ctx context.Context, i int) (bool, string) {
		u, j := objs[i], b.jobs[i%len(b.jobs)]
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := b.dyn.Resource(gvr(j.GVK)).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return false, fmt.Sprintf("%s %s: %v", j.GVK.Kind, u.GetName(), err)
		}
		return false, ""
	}
}

// switchTo registers configuration c's webhooks alone and returns once the
// apiserver calls exactly those: a dry-run create of a Ray skeleton (which
// stores as is without a webhook) reached c's webhooks and no other, by
// the apiserver's metrics, and came back expanded only under
// flyte-admission.
func (b *bench) switchTo(ctx context.Context, c int) {
	t := b.t
	t.Helper()
	mwc, vwc := b.kc.AdmissionregistrationV1().MutatingWebhookConfigurations(), b.kc.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	for k, s := range b.setups {
		if k == c || s.mutating == nil {
			continue
		}
		for _, err := range []error{
			mwc.Delete(ctx, s.mutating.Name, metav1.DeleteOptions{}),
			vwc.Delete(ctx, s.validating.Name, metav1.DeleteOptions{}),
		} {
			if !apierrors.IsNotFound(err) {
				require.NoError(t, err, "remove %s's webhooks", s.name)
			}
		}
	}
	s := b.setups[c]
	if s.mutating != nil {
		_, err := mwc.Create(ctx, s.mutating, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = vwc.Create(ctx, s.validating, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	var probe load.Job
	for _, j := range b.jobs {
		if j.GVK.Kind == "RayJob" {
			probe = j
			break
		}
	}
	require.NotEmpty(t, probe.Source, "a RayJob among the examples, for the probe")
	proto := &unstructured.Unstructured{Object: probe.Skeleton}
	proto = proto.DeepCopy()
	proto.SetName("probe")
	var last string
	for deadline := time.Now().Add(time.Minute); ; {
		if last = b.probe(ctx, s, probe.GVK, proto); last == "" {
			return
		}
		require.True(t, time.Now().Before(deadline), "the apiserver does not call %s's webhooks alone: %s", s.name, last)
		time.Sleep(50 * time.Millisecond) // the poll's interval
	}
}

// probe dry-runs the creation of proto and says how the apiserver's
// admission differs from configuration s's ("" when it does not).
func (b *bench) probe(ctx context.Context, s setup, gvk schema.GroupVersionKind, proto *unstructured.Unstructured) string {
	before := b.webhookCalls(ctx)
	got, err := b.dyn.Resource(gvr(gvk)).Namespace(proto.GetNamespace()).Create(ctx, proto, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return err.Error()
	}
	after := b.webhookCalls(ctx)
	for _, name := range webhookNames(b.setups) {
		if called := after[name] > before[name]; called != slices.Contains(s.called(), name) {
			return fmt.Sprintf("%s called: %t", name, called)
		}
	}
	if _, expanded := got.GetAnnotations()[task.ExpandedFromAnnotation]; expanded != s.expanded {
		return fmt.Sprintf("probe expanded: %t", expanded)
	}
	return ""
}

// webhookCalls reads the apiserver's apiserver_admission_webhook_request_total
// by webhook name.
func (b *bench) webhookCalls(ctx context.Context) map[string]int {
	b.t.Helper()
	data, err := b.kc.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	require.NoError(b.t, err, "apiserver /metrics")
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "apiserver_admission_webhook_request_total{")
		if !ok {
			continue
		}
		_, rest, ok := strings.Cut(line, `name="`)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		require.NoError(b.t, err, line)
		out[name] += int(v)
	}
	require.NoError(b.t, sc.Err())
	return out
}

// checkStored checks that every create of configuration c was stored, and
// expanded by flyte-admission or by no one.
func (b *bench) checkStored(ctx context.Context, c, creates int) {
	t := b.t
	t.Helper()
	stored := 0
	for _, r := range webhook.Resources {
		for ns := range b.namespaces {
			l, err := b.dyn.Resource(r).Namespace(ns).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, o := range l.Items {
				_, expanded := o.GetAnnotations()[task.ExpandedFromAnnotation]
				require.Equal(t, b.setups[c].expanded, expanded, "%s: %s %s carries %s", b.setups[c].name, o.GetKind(), o.GetName(), task.ExpandedFromAnnotation)
				spec, _, _ := unstructured.NestedMap(o.Object, "spec")
				require.NotEmpty(t, spec, "%s: %s %s has no spec", b.setups[c].name, o.GetKind(), o.GetName())
			}
			stored += len(l.Items)
		}
	}
	require.Equal(t, creates, stored, "%s: objects stored", b.setups[c].name)
}

// deleteAll deletes the run's objects, so that etcd holds the same for
// every run.
func (b *bench) deleteAll(ctx context.Context) {
	t := b.t
	t.Helper()
	for _, r := range webhook.Resources {
		for ns := range b.namespaces {
			require.NoError(t, b.dyn.Resource(r).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
			require.Eventually(t, func() bool {
				l, err := b.dyn.Resource(r).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1})
				return err == nil && len(l.Items) == 0
			}, time.Minute, 50*time.Millisecond, "%s in %s not deleted", r.Resource, ns)
		}
	}
}

// webhookNames lists every webhook of every configuration.
func webhookNames(setups []setup) []string {
	var out []string
	for _, s := range setups {
		if s.mutating == nil {
			continue
		}
		for _, w := range s.mutating.Webhooks {
			out = append(out, w.Name)
		}
		for _, w := range s.validating.Webhooks {
			out = append(out, w.Name)
		}
	}
	return out
}
