package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/flyte-admission/flyte-admission/test/cluster"
)

const (
	release   = "flyte-admission"
	namespace = "flyte-admission"
	// jobsNS is the examples' namespace.
	jobsNS = "flytesnacks-development"
	// createRate is the steady rate of creates during a disruption, and
	// maxCreates bounds their count.
	createRate = 10
	maxCreates = 1200
)

var sparkGVR = schema.GroupVersionResource{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "sparkapplications"}

// TestCluster runs the chart on a real single-node cluster (package cluster):
// the image from `make image` imported into containerd, `helm install`, both
// pods Ready through their probes, examples/ expanded by the pods through the
// Service; then, with creates at a steady rate through the apiserver, the
// deletion of the leader pod and a `helm upgrade` that rolls the Deployment
// must fail no create, the watcher's leadership must move to the surviving
// pod and phases keep being reported; `helm uninstall` must leave only what
// the chart README lists. It needs root and fails without it.
func TestCluster(t *testing.T) {
	ctx, cancel := testContext(t)
	defer cancel()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	require.Zero(t, os.Geteuid(), "the cluster test needs root (network namespaces, mounts, cgroups, apt-get)")

	t0 := time.Now()
	require.NoError(t, cluster.EnsureHostPackages(ctx, t.Logf))
	assets, err := cluster.Binaries(ctx, root)
	require.NoError(t, err)
	t.Logf("binaries (hack/build-control-plane.sh WITH_NODE=1): %.1fs", time.Since(t0).Seconds())

	t1 := time.Now()
	imageDir := t.TempDir()
	tarball, err := cluster.MakeImage(ctx, root, imageDir)
	require.NoError(t, err)
	t.Logf("make image: %.1fs", time.Since(t1).Seconds())

	t2 := time.Now()
	c, err := cluster.Start(ctx, assets, cluster.Options{Root: root, Images: []string{tarball}, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			for _, d := range []string{"kubelet", "kube-apiserver", "containerd"} {
				t.Logf("end of %s's log:\n%s", d, c.LogTail(d, 4000))
			}
			if out, err := c.Kubectl(context.Background(), nil, "get", "pods,events", "-A", "-o", "wide"); err == nil {
				t.Logf("pods and events:\n%s", out)
			}
		}
		ts := time.Now()
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		t.Logf("cluster stopped and cleaned up: %.1fs", time.Since(ts).Seconds())
	})
	t.Logf("cluster up (node Ready): %.1fs", time.Since(t2).Seconds())
	socks, err := c.HostSockets()
	require.NoError(t, err)
	require.Empty(t, socks, "sockets of the cluster's processes in the machine's network namespace")

	cfg, err := c.RESTConfig()
	require.NoError(t, err)
	cfg.WarningHandler = rest.NoWarnings{} // listing every resource type warns of deprecated ones
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)

	// The operators' CRDs.
	require.NoError(t, c.InstallCRDs(ctx, root))

	// helm install, the image from make image (the chart's default
	// repository and tag), never pulled.
	helm, err := c.Helm(namespace)
	require.NoError(t, err)
	ch, err := loader.Load(filepath.Join(root, "charts", "flyte-admission"))
	require.NoError(t, err)
	values, err := cluster.ChartValues(root)
	require.NoError(t, err)
	t3 := time.Now()
	inst := action.NewInstall(helm)
	inst.ReleaseName, inst.Namespace, inst.CreateNamespace = release, namespace, true
	inst.Wait, inst.Timeout = true, 3*time.Minute
	_, err = inst.RunWithContext(ctx, ch, values)
	require.NoError(t, err, "helm install")
	t.Logf("helm install --wait: %.1fs", time.Since(t3).Seconds())

	// Both pods Ready, through their readiness probes, on the pod network.
	pods := releasePods(ctx, t, cs)
	require.Len(t, pods, 2)
	for _, p := range pods {
		require.True(t, podReady(&p), "pod %s Ready", p.Name)
		require.NotNil(t, p.Spec.Containers[0].ReadinessProbe, "pod %s has a readiness probe", p.Name)
		require.True(t, strings.HasPrefix(p.Status.PodIP, "10.244.0."), "pod %s IP %s on the pod bridge", p.Name, p.Status.PodIP)
	}

	// The webhook is called through the Service: the registration names the
	// Service, whose endpoints are the two pods.
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
	require.NoError(t, err)
	for _, w := range mwc.Webhooks {
		require.NotNil(t, w.ClientConfig.Service, "webhook %s is called through a Service", w.Name)
		require.Nil(t, w.ClientConfig.URL, "webhook %s", w.Name)
		require.Equal(t, namespace+"/"+release, w.ClientConfig.Service.Namespace+"/"+w.ClientConfig.Service.Name, "webhook %s", w.Name)
	}
	require.ElementsMatch(t, podIPs(pods), serviceEndpoints(ctx, t, cs), "the Service's endpoints are the release's pods")

	// kubectl apply -f examples/: every templated job is stored expanded.
	t4 := time.Now()
	_, err = c.Kubectl(ctx, nil, "apply", "-f", filepath.Join(root, "examples", "00-namespace.yaml"))
	require.NoError(t, err)
	out, err := c.Kubectl(ctx, nil, "apply", "-f", filepath.Join(root, "examples"))
	require.NoError(t, err)
	out, err = c.Kubectl(ctx, nil, "get", "-f", filepath.Join(root, "examples"), "-o", "json")
	require.NoError(t, err)
	var list struct {
		Items []unstructured.Unstructured `json:"items"`
	}
	require.NoError(t, json.Unmarshal(out, &list))
	jobs := 0
	for _, it := range list.Items {
		if it.GetKind() == "Namespace" {
			continue
		}
		jobs++
		require.NotEmpty(t, it.GetAnnotations()["flyte.org/expanded-from"], "%s %s is stored expanded", it.GetKind(), it.GetName())
	}
	require.Equal(t, 9, jobs, "examples/ holds 9 jobs")
	t.Logf("examples applied and expanded (%d jobs): %.1fs; test start to here: %.1fs", jobs, time.Since(t4).Seconds(), time.Since(t0).Seconds())

	// The watcher reports phases: an operator writes a status on spark-pi.
	// (spark-operator writes driverInfo, required by the CRD, from submission on.)
	reportPhase(ctx, t, dyn, "spark-pi", map[string]any{"applicationState": map[string]any{"state": "SUBMITTED"},
		"driverInfo": map[string]any{}, "submissionAttempts": 1}, "Initializing")

	// Disruption 1: delete the leader pod while creating at a steady rate.
	leader, survivor := leaderPod(ctx, t, cs, pods)
	t.Logf("leader %s, the other pod %s", leader, survivor)
	load := startCreates(ctx, t, dyn)
	time.Sleep(2 * time.Second)
	require.NoError(t, cs.CoreV1().Pods(namespace).Delete(ctx, leader, metav1.DeleteOptions{}))
	waitPods(ctx, t, cs, func(ps []corev1.Pod) bool {
		return len(ps) == 2 && !hasPod(ps, leader) && readyCount(ps) == 2
	})
	time.Sleep(3 * time.Second)
	res := load.stop()
	t.Logf("pod deletion: %d creates sent, %d failed %v", res.sent, res.failed, res.errors)
	require.Zero(t, res.failed, "creates failed while a pod was deleted: %v", res.errors)
	require.Positive(t, res.sent)

	// The leadership moved to a surviving pod, which reports phases: the
	// other pod, or the replacement if its first try for the Lease came first
	// (both retry every 2 s once the deleted leader released it).
	require.NoError(t, poll(ctx, time.Minute, func() error {
		h := leaseHolder(ctx, cs)
		for _, p := range releasePods(ctx, t, cs) {
			if p.Name != leader && p.DeletionTimestamp == nil && strings.HasPrefix(h, p.Name+"_") {
				who := "the other pod"
				if p.Name != survivor {
					who = "the replacement pod"
				}
				t.Logf("leadership moved to %s %s", who, p.Name)
				return nil
			}
		}
		return fmt.Errorf("lease held by %q, not by a live pod other than the deleted leader %s", h, leader)
	}))
	reportPhase(ctx, t, dyn, "spark-pi", map[string]any{"applicationState": map[string]any{"state": "RUNNING"},
		"driverInfo": map[string]any{"podName": "spark-pi-driver"}}, "Running")

	// Disruption 2: helm upgrade that rolls the Deployment.
	before := releasePods(ctx, t, cs)
	load = startCreates(ctx, t, dyn)
	time.Sleep(2 * time.Second)
	t5 := time.Now()
	up := action.NewUpgrade(helm)
	up.Namespace, up.Wait, up.Timeout, up.ReuseValues = namespace, true, 3*time.Minute, true
	_, err = up.RunWithContext(ctx, release, ch, map[string]any{"podAnnotations": map[string]any{"test.flyte.org/rollout": "2"}})
	require.NoError(t, err, "helm upgrade")
	waitPods(ctx, t, cs, func(ps []corev1.Pod) bool {
		for _, p := range before {
			if hasPod(ps, p.Name) {
				return false
			}
		}
		return len(ps) == 2 && readyCount(ps) == 2
	})
	time.Sleep(3 * time.Second)
	res = load.stop()
	t.Logf("helm upgrade (rollout %.1fs): %d creates sent, %d failed %v", time.Since(t5).Seconds(), res.sent, res.failed, res.errors)
	require.Zero(t, res.failed, "creates failed during the rollout: %v", res.errors)
	require.Positive(t, res.sent)

	// A new pod leads and reports phases.
	after := releasePods(ctx, t, cs)
	require.NoError(t, poll(ctx, time.Minute, func() error {
		h := leaseHolder(ctx, cs)
		for _, p := range after {
			if strings.HasPrefix(h, p.Name+"_") {
				return nil
			}
		}
		return fmt.Errorf("lease held by %q, not by a pod of the new ReplicaSet", h)
	}))
	reportPhase(ctx, t, dyn, "spark-pi", map[string]any{"applicationState": map[string]any{"state": "COMPLETED"},
		"sparkApplicationId": "spark-0001", "terminationTime": "2026-01-02T03:04:05Z"}, "Success")

	// helm uninstall leaves what the chart README says: the Secret of the
	// self-signed certificates and the watcher's Lease (plus what Kubernetes
	// puts in every namespace, and the namespace helm install created).
	t6 := time.Now()
	un := action.NewUninstall(helm)
	un.Wait, un.Timeout = true, 3*time.Minute
	_, err = un.Run(release)
	require.NoError(t, err, "helm uninstall")
	want := []string{
		"ConfigMap/kube-root-ca.crt", "ServiceAccount/default", // every namespace's
		"Lease/" + release + "-watch", "Secret/" + release + "-certs", // the README's
	}
	sort.Strings(want)
	var left []string
	require.NoError(t, poll(ctx, 2*time.Minute, func() error {
		left = leftInNamespace(ctx, t, cs, dyn, namespace)
		if strings.Join(left, ",") != strings.Join(want, ",") {
			return fmt.Errorf("left in %s: %v", namespace, left)
		}
		return nil
	}), "left in namespace %s after helm uninstall", namespace)
	require.Empty(t, clusterScopedLeft(ctx, t, cs, dyn), "cluster-scoped objects of the release left after helm uninstall")
	t.Logf("helm uninstall: %.1fs; left %v", time.Since(t6).Seconds(), left)

	// After all that traffic, still no socket of the cluster on the
	// machine's own network.
	socks, err = c.HostSockets()
	require.NoError(t, err)
	require.Empty(t, socks, "sockets of the cluster's processes in the machine's network namespace")
}

// testContext ends a minute before the test binary's deadline, so that the
// cluster is still stopped and cleaned up when the test runs out of time.
func testContext(t *testing.T) (context.Context, context.CancelFunc) {
	if d, ok := t.Deadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-time.Minute))
	}
	return context.WithCancel(context.Background())
}

// poll calls f until it succeeds or timeout passes; the error is f's last.
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func releasePods(ctx context.Context, t *testing.T, cs kubernetes.Interface) []corev1.Pod {
	l, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	return l.Items
}

// waitPods waits until the release's pods satisfy ok (terminating pods
// count: they are gone only once deleted).
func waitPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ok func([]corev1.Pod) bool) {
	require.NoError(t, poll(ctx, 3*time.Minute, func() error {
		ps := releasePods(ctx, t, cs)
		if !ok(ps) {
			var s []string
			for _, p := range ps {
				s = append(s, fmt.Sprintf("%s(ready=%v,deleting=%v)", p.Name, podReady(&p), p.DeletionTimestamp != nil))
			}
			return fmt.Errorf("pods %v", s)
		}
		return nil
	}))
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyCount(ps []corev1.Pod) int {
	n := 0
	for i := range ps {
		if podReady(&ps[i]) && ps[i].DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

func hasPod(ps []corev1.Pod, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

func podIPs(ps []corev1.Pod) []string {
	var ips []string
	for _, p := range ps {
		ips = append(ips, p.Status.PodIP)
	}
	return ips
}

// serviceEndpoints are the ready addresses of the release's Service.
func serviceEndpoints(ctx context.Context, t *testing.T, cs kubernetes.Interface) []string {
	var ips []string
	require.NoError(t, poll(ctx, time.Minute, func() error {
		l, err := cs.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + release})
		if err != nil {
			return err
		}
		ips = nil
		for _, s := range l.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ips = append(ips, e.Addresses...)
				}
			}
		}
		if len(ips) != 2 {
			return fmt.Errorf("service %s has ready endpoints %v", release, ips)
		}
		return nil
	}))
	return ips
}

// leaseHolder is the holder of the watcher's Lease ("" if none).
func leaseHolder(ctx context.Context, cs kubernetes.Interface) string {
	l, err := cs.CoordinationV1().Leases(namespace).Get(ctx, release+"-watch", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// leaderPod returns the pod holding the watcher's Lease and the other one.
func leaderPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, pods []corev1.Pod) (leader, other string) {
	require.NoError(t, poll(ctx, time.Minute, func() error {
		h := leaseHolder(ctx, cs)
		for i, p := range pods {
			if strings.HasPrefix(h, p.Name+"_") {
				leader, other = p.Name, pods[1-i].Name
				return nil
			}
		}
		return fmt.Errorf("lease %s-watch held by %q", release, h)
	}))
	return leader, other
}

// reportPhase writes status on the SparkApplication name as spark-operator
// would, and waits until the watcher reports phase in flyte.org/phase.
func reportPhase(ctx context.Context, t *testing.T, dyn dynamic.Interface, name string, status map[string]any, phase string) {
	patch, err := json.Marshal(map[string]any{"status": status})
	require.NoError(t, err)
	apps := dyn.Resource(sparkGVR).Namespace(jobsNS)
	_, err = apps.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	require.NoError(t, err)
	require.NoError(t, poll(ctx, time.Minute, func() error {
		u, err := apps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got := u.GetAnnotations()["flyte.org/phase"]; got != phase {
			return fmt.Errorf("flyte.org/phase of %s is %q, want %q", name, got, phase)
		}
		return nil
	}), "phase reported for status %v", status)
}

// creates sends creates of templated SparkApplications (examples/spark-pi
// with a generated name) at createRate per second, each on its own, until
// stopped or maxCreates were sent; a create fails if the apiserver refuses
// it or stores it without the webhook's expansion.
type creates struct {
	mu     sync.Mutex
	sent   int
	failed int
	errors map[string]int
	done   chan struct{}
	wg     sync.WaitGroup
	ticker sync.WaitGroup
}

type createResult struct {
	sent, failed int
	errors       map[string]int
}

func startCreates(ctx context.Context, t *testing.T, dyn dynamic.Interface) *creates {
	b, err := os.ReadFile("../../examples/spark-pi.yaml")
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal(b, &obj))
	tmpl := &unstructured.Unstructured{Object: obj}
	tmpl.SetName("")
	tmpl.SetGenerateName("load-")
	apps := dyn.Resource(sparkGVR).Namespace(jobsNS)

	l := &creates{errors: map[string]int{}, done: make(chan struct{})}
	l.ticker.Add(1)
	go func() {
		defer l.ticker.Done()
		tick := time.NewTicker(time.Second / createRate)
		defer tick.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l.mu.Lock()
			if l.sent >= maxCreates {
				l.mu.Unlock()
				return
			}
			l.sent++
			l.mu.Unlock()
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				got, err := apps.Create(cctx, tmpl.DeepCopy(), metav1.CreateOptions{})
				if err == nil && got.GetAnnotations()["flyte.org/expanded-from"] == "" {
					err = fmt.Errorf("stored without expansion")
				}
				if err != nil {
					msg := err.Error()
					if s, ok := err.(apierrors.APIStatus); ok {
						msg = s.Status().Message
					}
					l.mu.Lock()
					l.failed++
					l.errors[tail(msg, 200)]++
					l.mu.Unlock()
				}
			}()
		}
	}()
	return l
}

// stop stops sending and waits for the creates in flight.
func (l *creates) stop() createResult {
	close(l.done)
	l.ticker.Wait()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return createResult{sent: l.sent, failed: l.failed, errors: l.errors}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// leftInNamespace lists, as Kind/name, the objects in ns of every listable
// namespaced resource except Events.
func leftInNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface, dyn dynamic.Interface, ns string) []string {
	var out []string
	for _, r := range listable(t, cs, true) {
		if r.gvr.Resource == "events" {
			continue
		}
		l, err := dyn.Resource(r.gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, it := range l.Items {
			out = append(out, r.kind+"/"+it.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// clusterScopedLeft lists the cluster-scoped objects of the release: named
// after it or labelled with it (the namespace helm install created is not
// part of the release).
func clusterScopedLeft(ctx context.Context, t *testing.T, cs kubernetes.Interface, dyn dynamic.Interface) []string {
	var out []string
	for _, r := range listable(t, cs, false) {
		l, err := dyn.Resource(r.gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, it := range l.Items {
			if r.kind == "Namespace" && it.GetName() == namespace {
				continue
			}
			if strings.Contains(it.GetName(), release) || it.GetLabels()["app.kubernetes.io/instance"] == release {
				out = append(out, r.kind+"/"+it.GetName())
			}
		}
	}
	return out
}

type resource struct {
	gvr  schema.GroupVersionResource
	kind string
}

// listable are the server's preferred resources that support list,
// namespaced or cluster-scoped.
func listable(t *testing.T, cs kubernetes.Interface, namespaced bool) []resource {
	lists, err := cs.Discovery().ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		require.NoError(t, err)
	}
	var out []resource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		require.NoError(t, err)
		for _, r := range l.APIResources {
			if r.Namespaced != namespaced || strings.Contains(r.Name, "/") || !contains(r.Verbs, "list") {
				continue
			}
			out = append(out, resource{gv.WithResource(r.Name), r.Kind})
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
