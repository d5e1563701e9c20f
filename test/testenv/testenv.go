// Package testenv starts a real kube-apiserver + etcd with the operators' CRDs
// for tests.
//
// It wraps controller-runtime's envtest: the binaries come from
// $KUBEBUILDER_ASSETS or, when it is unset, from hack/build-control-plane.sh
// (which finds its cached build, or builds it once; see Assets), so a plain
// `go test ./...` works without make;
// the CRDs of SparkApplication, RayJob, DaskJob and their companions come from
// the operator modules in the Go module cache (package crds). Each Start runs
// its own control plane on random local ports and stops it when the test ends.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flyte-admission/flyte-admission/internal/crds"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/watch"
)

// AssetsEnv is the environment variable naming the directory that holds the
// kube-apiserver, etcd and (optionally) kubectl binaries.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// Timeouts generous enough for a loaded 2-core machine; envtest's defaults
// (20 s per component, 10 s for the CRDs) are not.
const (
	controlPlaneTimeout = 2 * time.Minute
	crdInstallTimeout   = time.Minute
)

// Options configures Start. The zero value is a control plane with the
// operators' CRDs and no webhooks.
type Options struct {
	// WebhookInstallOptions are passed to envtest unchanged: envtest installs
	// the webhook configurations, points them at LocalServingHost/Port and
	// writes a serving certificate to LocalServingCertDir.
	WebhookInstallOptions envtest.WebhookInstallOptions
	// ExtraCRDPaths are CRD files or directories (not recursed) installed in
	// addition to the operators' CRDs.
	ExtraCRDPaths []string
	// APIServerFlags are extra kube-apiserver flags, by name without the
	// dashes (e.g. "admission-control-config-file").
	APIServerFlags map[string]string
}

// Env is a running control plane.
type Env struct {
	// Env is the underlying envtest environment (CRDs, webhook options with
	// the serving host/port/cert dir filled in).
	Env *envtest.Environment
	// Config is an admin rest.Config for the apiserver.
	Config *rest.Config
	// Scheme knows the core Kubernetes types, CustomResourceDefinition and
	// the spark-operator v1beta2, KubeRay v1 and Dask v1 types.
	Scheme *runtime.Scheme
	// Client is an uncached controller-runtime client using Scheme.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file for a system:masters user,
	// for the real kubectl.
	Kubeconfig string

	kubectl string // path of the kubectl binary
}

// NewScheme returns a scheme with what the watcher uses (watch.AddToScheme):
// the core Kubernetes types, apiextensions/v1 and the SparkApplication,
// RayJob and DaskJob API groups.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := watch.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts etcd and kube-apiserver from Assets, installs the operators'
// CRDs (crds.Files) plus opts.ExtraCRDPaths and waits until they are served.
// It fails the test (never skips it) when the control plane cannot be found,
// built or started; a t.Cleanup stops the control plane. Cleanups registered
// after Start (e.g. stopping a manager) run before that.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	assets, err := Assets()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	e, err := start(t, assets, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return e
}

// ControlPlaneScript is the script, relative to the repository root, that
// builds kube-apiserver and etcd once, caches them, and prints their
// directory as the last line of its standard output.
const ControlPlaneScript = "hack/build-control-plane.sh"

// Assets returns the directory holding kube-apiserver and etcd:
// $KUBEBUILDER_ASSETS when set, else the last line that ControlPlaneScript
// (found in the nearest parent directory of the working directory that has
// it) prints. The script returns at once when its cache holds the binaries,
// and builds them otherwise (minutes, once per machine; its progress goes to
// stderr; concurrent callers wait on its lock). The answer is remembered for
// the process and exported as KUBEBUILDER_ASSETS, for the envtest code and
// child processes that read the variable.
func Assets() (string, error) { return assets() }

var assets = sync.OnceValues(resolveAssets)

func resolveAssets() (string, error) {
	if dir := os.Getenv(AssetsEnv); dir != "" {
		return dir, nil
	}
	script, err := findScript()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s is not set and %s failed (messages above): %w", AssetsEnv, script, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", fmt.Errorf("%s is not set and %s printed no directory", AssetsEnv, script)
	}
	if err := os.Setenv(AssetsEnv, dir); err != nil {
		return "", fmt.Errorf("export %s: %w", AssetsEnv, err)
	}
	return dir, nil
}

// findScript looks for ControlPlaneScript in the working directory (a test's
// is its package directory) and its parents.
func findScript() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%s is not set and the working directory is unknown: %w", AssetsEnv, err)
	}
	for dir := wd; ; {
		p := filepath.Join(dir, filepath.FromSlash(ControlPlaneScript))
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s is not set and no %s in %s or its parents: set %s to a directory holding kube-apiserver and etcd",
				AssetsEnv, ControlPlaneScript, wd, AssetsEnv)
		}
		dir = parent
	}
}

func start(t testing.TB, assets string, opts Options) (*Env, error) {
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s=%s has no %s (build it with hack/build-control-plane.sh): %w",
				AssetsEnv, assets, bin, err)
		}
	}
	kubectl, err := findKubectl(assets)
	if err != nil {
		return nil, err
	}
	crdPaths, err := crds.Files(builtin.CRDs())
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}

	useExisting := false
	// A certificate directory of our own (envtest's is removed when the
	// apiserver stops) keeps the serving certificate across RestartAPIServer,
	// so existing clients and kubeconfigs still trust it.
	api := &envtest.APIServer{CertDir: t.TempDir()}
	for name, value := range opts.APIServerFlags {
		api.Configure().Set(name, value)
	}
	env := &envtest.Environment{
		ControlPlane:          envtest.ControlPlane{APIServer: api},
		CRDDirectoryPaths:     append(crdPaths, opts.ExtraCRDPaths...),
		ErrorIfCRDPathMissing: true,
		CRDInstallOptions:     envtest.CRDInstallOptions{MaxTime: crdInstallTimeout},
		WebhookInstallOptions: opts.WebhookInstallOptions,
		BinaryAssetsDirectory: assets,
		UseExistingCluster:    &useExisting, // ignore USE_EXISTING_CLUSTER
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = controlPlaneTimeout
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_STOP_TIMEOUT") == "" {
		env.ControlPlaneStopTimeout = controlPlaneTimeout
	}

	began := time.Now()
	cfg, err := env.Start()
	if err != nil {
		// Start may have left etcd or the apiserver running.
		return nil, errors.Join(fmt.Errorf("start control plane from %s: %w", assets, err), env.Stop())
	}
	t.Logf("testenv: control plane with %d CRDs started in %s", len(env.CRDs), time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("testenv: stop control plane: %v", err)
		}
	})

	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	user, err := env.AddUser(envtest.User{Name: "testenv-kubectl", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add kubectl user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("render kubeconfig: %w", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	return &Env{
		Env:        env,
		Config:     cfg,
		Scheme:     scheme,
		Client:     c,
		Kubeconfig: kubeconfig,
		kubectl:    kubectl,
	}, nil
}

// RestartAPIServer stops kube-apiserver (etcd keeps running, and with it
// every stored object), calls whileDown, and starts the apiserver again on
// the same address with the same serving certificate, client CA and
// service-account keys: clients, kubeconfigs and users made before keep
// working. It returns once the apiserver serves the operators' kinds again,
// and fails the test if it does not within the control-plane timeout.
func (e *Env) RestartAPIServer(t testing.TB, whileDown func()) {
	t.Helper()
	api := e.Env.ControlPlane.GetAPIServer()
	began := time.Now()
	if err := api.Stop(); err != nil {
		t.Fatalf("testenv: stop kube-apiserver: %v", err)
	}
	t.Logf("testenv: kube-apiserver stopped in %s", time.Since(began).Round(time.Millisecond))
	whileDown()
	began = time.Now()
	if err := api.Start(); err != nil {
		t.Fatalf("testenv: restart kube-apiserver: %v", err)
	}
	// /healthz passes before the CRDs' handlers are installed.
	ctx, cancel := context.WithTimeout(context.Background(), controlPlaneTimeout)
	defer cancel()
	for _, kind := range []client.ObjectList{&sparkv1beta2.SparkApplicationList{}, &rayv1.RayJobList{}, &daskv1.DaskJobList{}} {
		for {
			err := e.Client.List(ctx, kind, client.Limit(1))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("testenv: the restarted kube-apiserver does not serve %T: %v", kind, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("testenv: kube-apiserver restarted in %s", time.Since(began).Round(time.Millisecond))
}

// findKubectl prefers the kubectl in the assets directory, then PATH.
func findKubectl(assets string) (string, error) {
	p := filepath.Join(assets, "kubectl")
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p, nil
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		return "", fmt.Errorf("no kubectl in %s=%s or on PATH: %w", AssetsEnv, assets, err)
	}
	return p, nil
}

// Kubectl runs `kubectl --kubeconfig e.Kubeconfig args...` with stdin (may be
// nil) and returns its stdout and stderr. Parse stdout only: an older kubectl
// prints a version-skew warning on stderr. A non-zero exit is returned as an
// error that includes stderr.
func (e *Env) Kubectl(ctx context.Context, stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, e.kubectl, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}

// MainWithBinary builds the flyte-admission binary into a temporary
// directory, stores its path in *binary, runs the package's tests and
// returns their exit code (for TestMain: os.Exit(MainWithBinary(m, &bin))).
func MainWithBinary(m *testing.M, binary *string) int {
	dir, err := os.MkdirTemp("", "flyte-admission-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*binary = filepath.Join(dir, "flyte-admission")
	build := exec.Command("go", "build", "-o", *binary, "github.com/flyte-admission/flyte-admission/cmd/flyte-admission")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build flyte-admission:", err)
		return 1
	}
	return m.Run()
}
