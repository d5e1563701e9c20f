// Package cluster runs a real single-node Kubernetes 1.37 cluster for tests,
// with no container registry and no network outside a network namespace of
// its own.
//
// Start creates a network namespace (`ip netns add`) holding only loopback
// and the pod bridge BridgeName with NodeIP, and runs in it containerd
// (Debian's, with runc and the CNI plugins, installed with apt-get when
// missing), etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// the kubelet (built from the Go module proxy by
// hack/build-control-plane.sh WITH_NODE=1, cached under ~/.cache). Every
// address the cluster uses belongs to that namespace: nothing listens on, or
// sends to, the machine's own interfaces. The test process talks to the
// apiserver through DialContext, which opens its sockets inside the
// namespace, and runs kubectl through nsenter.
//
// There is no kube-proxy: the apiserver reaches webhook Services through
// their endpoints (--enable-aggregator-routing), and pods must be pointed at
// the apiserver with KUBERNETES_SERVICE_HOST=NodeIP and
// KUBERNETES_SERVICE_PORT=6443 (InClusterEnv). Images reach containerd with
// `ctr images import` (Options.Images); the pause image is built from
// ./pause.
//
// The choices follow the verified recipe of a single-node cluster on these
// machines (cgroup v1, root without CAP_SYS_RESOURCE, containerd 1.6); see
// configs.go for the settings that recipe's problem table asked for.
//
// Stop undoes everything Start did, also after a failed Start: the
// processes (daemons, shims and containers), the mounts, the pod and cluster
// network namespaces with their veths and bridge, the kubelet's cgroups, and
// the paths the kubelet and containerd create outside their configured
// directories; it reports whatever it could not remove. One cluster runs at a
// time on a machine (a lock file serialises Start).
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The cluster's addresses and names. They exist only inside the cluster's
// network namespace, so they cannot clash with the machine's.
const (
	// NodeIP is the pod bridge's address: the apiserver and the kubelet
	// listen on it, and it is the pods' gateway.
	NodeIP = "10.244.0.1"
	// PodCIDR is the pods' network on the bridge.
	PodCIDR = "10.244.0.0/24"
	// ServiceCIDR is the Service ClusterIP range.
	ServiceCIDR = "10.96.0.0/16"
	// APIServiceIP is the ClusterIP of the kubernetes Service (unrouted: there
	// is no kube-proxy).
	APIServiceIP = "10.96.0.1"
	// BridgeName is the pod bridge's name inside the namespace.
	BridgeName = "fa0"
	// NodeName is the node's name (the kubelet's --hostname-override).
	NodeName = "test-node"
	// PauseImage is the sandbox image containerd uses; Start imports it.
	PauseImage = "localhost/pause:local"
	// KubernetesVersion is the version of every Kubernetes component.
	KubernetesVersion = "1.37.0"
)

// InClusterEnv are the environment variables a pod needs to reach the
// apiserver without kube-proxy (they override the ones the kubelet injects
// from the kubernetes Service).
var InClusterEnv = map[string]string{"KUBERNETES_SERVICE_HOST": NodeIP, "KUBERNETES_SERVICE_PORT": "6443"}

// netnsPrefix names the cluster's network namespace (plus the process id).
const netnsPrefix = "flyte-admission-test-"

// lockFile serialises clusters on one machine: they share the kubelet's
// hard-coded paths and cgroups.
const lockFile = "/run/lock/flyte-admission-test-cluster.lock"

// Options configures Start.
type Options struct {
	// Root is the repository root (hack/build-control-plane.sh, ./pause).
	Root string
	// Images are image archives (docker-style or OCI tarballs) imported into
	// containerd before the kubelet starts.
	Images []string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Milestone is a named point of Start, measured from its beginning.
type Milestone struct {
	Name  string
	Since time.Duration
}

// Cluster is a running single-node cluster. Stop it when done.
type Cluster struct {
	// Dir holds every file of the cluster: pki/, the configurations, logs/,
	// etcd's data, containerd's root and state, the kubelet's root.
	Dir string
	// Assets is the directory of the Kubernetes and etcd binaries.
	Assets string
	// NetNS is the network namespace's name (`ip netns exec NetNS ...`).
	NetNS string
	// Kubeconfig is the admin (system:masters) kubeconfig.
	Kubeconfig string
	// Milestones are Start's steps with their times.
	Milestones []Milestone

	kubectl string
	nsPath  string
	logf    func(string, ...any)
	procs   []*process
	host    hostSnapshot
	lock    *os.File
	nsMade  bool
	start   time.Time
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// Binaries builds (once, then cached) etcd, kube-apiserver, kubelet,
// kube-controller-manager and kube-scheduler with
// hack/build-control-plane.sh WITH_NODE=1, and kubectl too when none is on
// PATH, and returns their directory.
func Binaries(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "build-control-plane.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "WITH_NODE=1", "K8S_VERSION="+KubernetesVersion)
	if _, err := exec.LookPath("kubectl"); err != nil {
		cmd.Env = append(cmd.Env, "WITH_KUBECTL=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/build-control-plane.sh WITH_NODE=1: %w\n%s", err, tail(stderr.String(), 3000))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	assets := lines[len(lines)-1]
	for _, b := range []string{"etcd", "kube-apiserver", "kubelet", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return "", fmt.Errorf("hack/build-control-plane.sh printed %s, which has no %s: %w", assets, b, err)
		}
	}
	return assets, nil
}

// hostPackages are the Debian packages the cluster runs on, by a file each
// provides.
var hostPackages = []struct{ file, pkg string }{
	{"/usr/bin/containerd", "containerd"},
	{"/usr/bin/ctr", "containerd"},
	{"/usr/bin/containerd-shim-runc-v2", "containerd"},
	{"/usr/sbin/runc", "runc"},
	{cniBin + "/bridge", "containernetworking-plugins"},
	{cniBin + "/host-local", "containernetworking-plugins"},
	{cniBin + "/loopback", "containernetworking-plugins"},
	{"/usr/sbin/ip", "iproute2"},
	{"/usr/bin/nsenter", "util-linux"},
}

// cniBin is where Debian's containernetworking-plugins puts the plugins.
const cniBin = "/usr/lib/cni"

// EnsureHostPackages installs with apt-get the Debian packages the cluster
// needs (containerd, runc, the CNI plugins) when any of their files is
// missing. It needs root.
func EnsureHostPackages(ctx context.Context, logf func(string, ...any)) error {
	var missing []string
	seen := map[string]bool{}
	for _, p := range hostPackages {
		if _, err := os.Stat(p.file); err != nil && !seen[p.pkg] {
			seen[p.pkg] = true
			missing = append(missing, p.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if logf != nil {
		logf("apt-get install %s", strings.Join(missing, " "))
	}
	for _, args := range [][]string{{"update"}, append([]string{"install", "-y", "--no-install-recommends"}, missing...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 2000))
		}
	}
	for _, p := range hostPackages {
		if _, err := os.Stat(p.file); err != nil {
			return fmt.Errorf("package %s installed, but %s is still missing", p.pkg, p.file)
		}
	}
	return nil
}

// Start brings the cluster up: the network namespace, containerd with the
// images, etcd, the apiserver, the controller manager, the scheduler and the
// kubelet, and returns once the node is Ready and the default
// ServiceAccount exists. assets holds the binaries (Binaries). When Start
// fails it has already stopped what it started.
func Start(ctx context.Context, assets string, o Options) (c *Cluster, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the cluster needs root (network namespaces, mounts, cgroups)")
	}
	c = &Cluster{Assets: assets, logf: o.Logf, start: time.Now()}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if c.kubectl, err = exec.LookPath("kubectl"); err != nil {
		c.kubectl = filepath.Join(assets, "kubectl")
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
			c = nil
		}
	}()
	if err := c.takeLock(ctx); err != nil {
		return c, err
	}
	if err := recoverStale(c.logf); err != nil {
		return c, err
	}
	if err := removeCgroups(); err != nil {
		return c, fmt.Errorf("a kubelet's cgroups are in use on this machine (another cluster?): %w", err)
	}
	c.host = snapshotHost()

	if c.Dir, err = os.MkdirTemp("", "fac-"); err != nil {
		return c, fmt.Errorf("cluster dir: %w", err)
	}
	c.NetNS = fmt.Sprintf("%s%d", netnsPrefix, os.Getpid())
	c.nsPath = "/run/netns/" + c.NetNS
	if err := c.saveState(); err != nil {
		return c, err
	}
	for _, d := range []string{"logs", "bin", "images", "pod-logs", "cni/ipam", "containerd"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return c, fmt.Errorf("cluster dir: %w", err)
		}
	}
	pki := filepath.Join(c.Dir, "pki")
	if err := writePKI(pki, NodeName); err != nil {
		return c, err
	}
	files := map[string]string{
		"containerd/config.toml":          containerdConfig(c.Dir, cniBin),
		"kubelet-config.yaml":             kubeletConfig(c.Dir),
		"cni/10-flyte-admission.conflist": cniConfig(c.Dir),
	}
	for _, u := range []string{"admin", "kubelet", "kcm", "scheduler"} {
		files[u+".kubeconfig"] = kubeconfig(pki, u)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(c.Dir, name), []byte(data), 0o600); err != nil {
			return c, fmt.Errorf("cluster config: %w", err)
		}
	}
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")

	// The pause image, built from ./pause.
	pause := filepath.Join(c.Dir, "bin", "pause")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", pause, "./pause")
	build.Dir = filepath.Join(o.Root, "test", "cluster") // its own module (Helm's SDK)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return c, fmt.Errorf("go build test/cluster/pause: %w\n%s", err, out)
	}
	pauseTar := filepath.Join(c.Dir, "images", "pause.tar")
	if err := writeImageArchive(pauseTar, PauseImage, pause, "/pause"); err != nil {
		return c, err
	}

	// The network namespace: loopback and the pod bridge with NodeIP (the CNI
	// bridge plugin reuses it; the apiserver and the kubelet bind to it).
	if err := run(ctx, "ip", "netns", "add", c.NetNS); err != nil {
		return c, err
	}
	c.nsMade = true
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", BridgeName, "type", "bridge"},
		{"addr", "add", NodeIP + "/24", "dev", BridgeName},
		{"link", "set", BridgeName, "up"},
	} {
		if err := run(ctx, "ip", append([]string{"-n", c.NetNS}, args...)...); err != nil {
			return c, err
		}
	}
	c.mark("network namespace")

	// containerd and the images.
	sock := filepath.Join(c.Dir, "containerd", "containerd.sock")
	if len(sock)+len(".ttrpc") >= 108 {
		return c, fmt.Errorf("cluster dir %s is too long for containerd's socket path", c.Dir)
	}
	if err := c.startProcess("containerd", "containerd", "--config", filepath.Join(c.Dir, "containerd", "config.toml")); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "containerd", time.Minute, func() error { return run(ctx, "ctr", "-a", sock, "version") }); err != nil {
		return c, err
	}
	for _, img := range append([]string{pauseTar}, o.Images...) {
		if err := run(ctx, "ctr", "-a", sock, "-n", "k8s.io", "images", "import", img); err != nil {
			return c, err
		}
	}
	c.mark("containerd up, images imported")

	// etcd and the apiserver.
	if err := c.startProcess("etcd", filepath.Join(assets, "etcd"), "--name", "local", "--data-dir", filepath.Join(c.Dir, "etcd-data"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "local=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return c, err
	}
	plain := &http.Client{Transport: &http.Transport{DialContext: c.DialContext}, Timeout: 5 * time.Second}
	if err := c.waitFor(ctx, "etcd", time.Minute, func() error { return httpOK(plain, "http://127.0.0.1:2379/health") }); err != nil {
		return c, err
	}
	c.mark("etcd healthy")
	p := func(f string) string { return filepath.Join(pki, f) }
	if err := c.startProcess("kube-apiserver", filepath.Join(assets, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address="+NodeIP, "--advertise-address="+NodeIP, "--secure-port=6443",
		"--tls-cert-file="+p("apiserver.crt"), "--tls-private-key-file="+p("apiserver.key"), "--client-ca-file="+p("ca.crt"),
		"--kubelet-client-certificate="+p("apiserver-kubelet-client.crt"), "--kubelet-client-key="+p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+p("ca.crt"), "--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.pub"), "--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range="+ServiceCIDR, "--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
		// no kube-proxy: call webhook and aggregated-API Services at their endpoints
		"--enable-aggregator-routing=true"); err != nil {
		return c, err
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return c, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return c, fmt.Errorf("client: %w", err)
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", 2*time.Minute, func() error {
		return cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	}); err != nil {
		return c, err
	}
	c.mark("kube-apiserver ready")

	// The controller manager, the scheduler and the kubelet.
	kcm := filepath.Join(c.Dir, "kcm.kubeconfig")
	if err := c.startProcess("kube-controller-manager", filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig="+kcm, "--authentication-kubeconfig="+kcm, "--authorization-kubeconfig="+kcm,
		"--service-account-private-key-file="+p("sa.key"), "--root-ca-file="+p("ca.crt"), "--use-service-account-credentials=true",
		"--cluster-signing-cert-file="+p("ca.crt"), "--cluster-signing-key-file="+p("ca.key"),
		"--bind-address=127.0.0.1", "--secure-port=10257", "--leader-elect=false"); err != nil {
		return c, err
	}
	sched := filepath.Join(c.Dir, "scheduler.kubeconfig")
	if err := c.startProcess("kube-scheduler", filepath.Join(assets, "kube-scheduler"),
		"--kubeconfig="+sched, "--authentication-kubeconfig="+sched, "--authorization-kubeconfig="+sched,
		"--bind-address=127.0.0.1", "--secure-port=10259", "--leader-elect=false"); err != nil {
		return c, err
	}
	if err := c.startProcess("kubelet", filepath.Join(assets, "kubelet"),
		"--config="+filepath.Join(c.Dir, "kubelet-config.yaml"), "--kubeconfig="+filepath.Join(c.Dir, "kubelet.kubeconfig"),
		"--root-dir="+filepath.Join(c.Dir, "kubelet"), "--node-ip="+NodeIP, "--hostname-override="+NodeName, "--v=1"); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "node Ready", 3*time.Minute, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready", NodeName)
	}); err != nil {
		return c, err
	}
	c.mark("node Ready")
	if err := c.waitFor(ctx, "default ServiceAccount", 2*time.Minute, func() error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return c, err
	}
	c.mark("default ServiceAccount")
	return c, nil
}

// mark records a milestone of Start.
func (c *Cluster) mark(name string) {
	m := Milestone{Name: name, Since: time.Since(c.start)}
	c.Milestones = append(c.Milestones, m)
	c.logf("cluster: %-32s %6.1fs", m.Name, m.Since.Seconds())
}

// takeLock waits for the machine-wide cluster lock.
func (c *Cluster) takeLock(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(lockFile), 0o755); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	for {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			c.lock = f
			return nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("waiting for %s (another cluster runs on this machine): %w", lockFile, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// startProcess starts a daemon inside the network namespace, in its own
// process group, logging to logs/NAME.log; it is killed if this process
// dies.
func (c *Cluster) startProcess(name, bin string, args ...string) error {
	logFile, err := os.Create(filepath.Join(c.Dir, "logs", name+".log"))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command("nsenter", append([]string{"--net=" + c.nsPath, "--", bin}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

// waitFor polls check until it succeeds, the timeout passes or a daemon
// exits; the error names what was awaited, the last check error and the end
// of the log of any daemon that exited.
func (c *Cluster) waitFor(ctx context.Context, what string, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("waiting for %s: %s exited (%v); end of logs/%s.log:\n%s", what, p.name, p.cmd.ProcessState, p.name, c.logTail(p.name))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logTail is the end of a daemon's log.
func (c *Cluster) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "logs", name+".log"))
	return tail(string(b), 3000)
}

// LogTail returns the last n bytes of a daemon's log (containerd, etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet).
func (c *Cluster) LogTail(name string, n int) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "logs", name+".log"))
	return tail(string(b), n)
}

// DialContext opens a connection from inside the cluster's network
// namespace: the socket is created on an OS thread switched into the
// namespace, then the thread is switched back.
func (c *Cluster) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("dial %s: own network namespace: %w", addr, err)}
			return
		}
		defer own.Close()
		target, err := os.Open(c.nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("dial %s: %w", addr, err)}
			return
		}
		err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
		target.Close()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("dial %s: setns %s: %w", addr, c.nsPath, err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		ch <- result{conn, err}
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: the goroutine ends locked, and the runtime discards the thread
	}()
	r := <-ch
	return r.conn, r.err
}

// RESTConfig is the admin's client configuration, dialling inside the
// network namespace.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", c.Kubeconfig, err)
	}
	cfg.Dial = c.DialContext
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// Kubectl runs kubectl inside the network namespace as the admin, with
// stdin (may be nil), and returns its standard output.
func (c *Cluster) Kubectl(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + c.nsPath, "--", c.kubectl, "--kubeconfig=" + c.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return out, nil
}

// run runs a command and returns an error with its output when it fails.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(string(out), 1000))
	}
	return nil
}

func httpOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// readLines returns a file's lines (none when it cannot be read).
func readLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
