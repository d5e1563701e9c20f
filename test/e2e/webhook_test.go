package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/flyte-admission/flyte-admission/test/servelog"
	"github.com/flyte-admission/flyte-admission/test/syncbuf"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/internal/crds"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/test/jsoncmp"
	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

const examplesConfig = "../../examples/config/plugins.yaml"

// binary is the flyte-admission binary built once for the package.
var binary string

func TestMain(m *testing.M) { os.Exit(testenv.MainWithBinary(m, &binary)) }

// cluster is a control plane with our webhooks registered and the real
// flyte-admission serve process behind them.
type cluster struct {
	*testenv.Env
	policies string // policies file, rewritten by tests
	serve    *serveProcess
}

// startCluster registers the mutating and validating webhooks (envtest points
// them at a local port with its own serving certificate) and the admission
// policy, then runs `flyte-admission serve` on that port.
func startCluster(t *testing.T, policies string, serveArgs ...string) *cluster {
	t.Helper()
	c := newCluster(t, policies, webhook.RegistrationOptions{})
	if len(serveArgs) == 0 {
		serveArgs = []string{"--cert-dir", c.Env.Env.WebhookInstallOptions.LocalServingCertDir} // envtest's certificate
	}
	c.serve = c.startServe(t, c.Env.Env.WebhookInstallOptions.LocalServingPort, serveArgs...)
	c.serve.waitReady(t)
	return c
}

// newCluster starts a control plane with the registration objects for opts
// (Namespace defaults to flyte-admission; envtest points the webhooks at a
// local port with its own serving certificate), the namespace and the
// policies file; no serve process runs yet. with may change the control
// plane's options first.
func newCluster(t *testing.T, policies string, opts webhook.RegistrationOptions, with ...func(*testenv.Options)) *cluster {
	t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = "flyte-admission"
	}
	envOpts := testenv.Options{WebhookInstallOptions: envtest.WebhookInstallOptions{
		MutatingWebhooks:   []*admissionregistrationv1.MutatingWebhookConfiguration{webhook.MutatingWebhookConfiguration(opts)},
		ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{webhook.ValidatingWebhookConfiguration(opts)},
	}}
	for _, f := range with {
		f(&envOpts)
	}
	env := testenv.Start(t, envOpts)
	ctx := context.Background()
	require.NoError(t, env.Client.Create(ctx, webhook.ValidatingAdmissionPolicy(opts)))
	require.NoError(t, env.Client.Create(ctx, webhook.ValidatingAdmissionPolicyBinding(opts)))
	// flyte-admission's own namespace (its certificate Secret lives there).
	require.NoError(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Namespace}}))

	c := &cluster{Env: env}
	c.policies = filepath.Join(t.TempDir(), "policies.yaml")
	require.NoError(t, os.WriteFile(c.policies, []byte(policies), 0o644))
	return c
}

// serveProcess is a running `flyte-admission serve`.
type serveProcess struct {
	cmd    *exec.Cmd
	port   int      // webhook port
	extra  []string // startServe's extra args
	log    *syncbuf.Buffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// probeAddr is the address of serve's probe and metrics listener (one
// listener, bound on port 0) once its log says it, "" before.
func (p *serveProcess) probeAddr() string {
	return servelog.Address(p.log.String(), servelog.ProbesMetrics)
}

// webhookPort is the port serve's webhook listener bound (asked for port 0),
// from its log; call it once serve is ready.
func (p *serveProcess) webhookPort(t *testing.T) int {
	t.Helper()
	addr := servelog.Address(p.log.String(), servelog.Webhook)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err, "no webhook address in the serve log:\n%s", p.log)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return n
}

// startServe starts `flyte-admission serve` on port with the cluster's
// configuration, a probe and metrics listener on any free port (see
// probeAddr) and extra args; it is stopped (SIGTERM) when the test ends. It
// does not wait for /readyz.
func (c *cluster) startServe(t *testing.T, port int, extra ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{
		port:   port,
		extra:  extra,
		log:    &syncbuf.Buffer{},
		exited: make(chan struct{}),
	}
	args := []string{"serve",
		"--host", c.Env.Env.WebhookInstallOptions.LocalServingHost, "--port", strconv.Itoa(port),
		"--config", examplesConfig, "--policies", c.policies, "--kubeconfig", c.Kubeconfig,
		"--probe-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--namespace", "flyte-admission",
		"--reload-interval", "100ms", "--shutdown-delay", "0s"}
	p.cmd = exec.Command(binary, append(args, extra...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("serve log (port %d):\n%s", port, p.log)
		}
	})
	return p
}

// waitReady waits until serve's /readyz passes.
func (p *serveProcess) waitReady(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		addr := p.probeAddr()
		if addr == "" {
			return false
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 100*time.Millisecond, "flyte-admission serve never became ready:\n%s", p.log)
}

// stop sends SIGTERM and waits for the process to exit (at most 20 s, then
// it is killed and the test fails). Stopping a stopped process does nothing.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("serve did not stop within 20 s of SIGTERM")
	}
}

func (c *cluster) kubectl(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Kubectl(ctx, stdin, args...)
}

// getJSON returns the stored object.
func (c *cluster) getJSON(t *testing.T, kind, ns, name string) map[string]any {
	t.Helper()
	out, stderr, err := c.kubectl(t, nil, "get", kind, name, "-n", ns, "-o", "json")
	require.NoError(t, err, stderr)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	return m
}

// offline runs `flyte-admission expand` on a file and returns the objects.
func offline(t *testing.T, file string) []map[string]any {
	t.Helper()
	out, err := exec.Command(binary, "expand", "-f", file, "--config", examplesConfig, "-o", "json").Output()
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(out, &v))
	if v["kind"] == "List" {
		var objs []map[string]any
		for _, it := range v["items"].([]any) {
			objs = append(objs, it.(map[string]any))
		}
		return objs
	}
	return []map[string]any{v}
}

// comparable drops empty values and the Spark start time (a timestamp taken
// at expansion), so that two expansions of one skeleton compare equal.
func comparable(v any) any {
	return jsoncmp.Normalize(v, jsoncmp.Options{Ignore: map[string]bool{jsoncmp.StartTime: true}})
}

func meta(m map[string]any) map[string]any { return m["metadata"].(map[string]any) }

func jobFiles(t *testing.T) []string {
	files, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), "00-") {
			out = append(out, f)
		}
	}
	require.GreaterOrEqual(t, len(out), 9)
	return out
}

func TestWebhook(t *testing.T) {
	c := startCluster(t, "invariants: {mode: enforce}\nforbid-privileged: {}\n")

	t.Run("kubectl apply of the examples stores fully expanded objects", func(t *testing.T) {
		out, stderr, err := c.kubectl(t, nil, "apply", "-f", "../../examples/")
		require.NoError(t, err, stderr)
		require.Contains(t, out, "created")
		for _, f := range jobFiles(t) {
			for _, want := range offline(t, f) {
				m := meta(want)
				got := c.getJSON(t, want["kind"].(string), m["namespace"].(string), m["name"].(string))
				defaults, err := crds.Defaults(want["kind"].(string), builtin.CRDs())
				require.NoError(t, err)
				if w, g := comparable(want["spec"]), comparable(got["spec"]); !assertEqualJSON(t, w, g, defaults) {
					t.Fatalf("%s: stored spec differs from the offline expansion", f)
				}
				ann := meta(got)["annotations"].(map[string]any)
				require.Equal(t, meta(want)["annotations"].(map[string]any)["flyte.org/expanded-from"], ann["flyte.org/expanded-from"])
			}
		}
	})

	t.Run("applying the same files again changes nothing", func(t *testing.T) {
		before := map[string]string{}
		for _, f := range jobFiles(t) {
			for _, o := range offline(t, f) {
				m := meta(o)
				key := o["kind"].(string) + "/" + m["name"].(string)
				before[key] = meta(c.getJSON(t, o["kind"].(string), m["namespace"].(string), m["name"].(string)))["resourceVersion"].(string)
			}
		}
		out, stderr, err := c.kubectl(t, nil, "apply", "-f", "../../examples/")
		require.NoError(t, err, stderr)
		require.NotContains(t, out, "configured")
		for key, rv := range before {
			kind, name, _ := strings.Cut(key, "/")
			require.Equal(t, rv, meta(c.getJSON(t, kind, "flytesnacks-development", name))["resourceVersion"], key)
		}
	})

	t.Run("server-side dry run returns the expansion and stores nothing", func(t *testing.T) {
		data, err := os.ReadFile("../../examples/ray-train.yaml")
		require.NoError(t, err)
		renamed := bytes.Replace(data, []byte("name: ray-train\n"), []byte("name: ray-dry-run\n"), 1)
		out, stderr, err := c.kubectl(t, renamed, "apply", "--dry-run=server", "-f", "-", "-o", "json")
		require.NoError(t, err, stderr)
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &obj))
		require.NotEmpty(t, obj["spec"].(map[string]any)["submitterPodTemplate"], "the dry run shows the expanded object")
		_, stderr, err = c.kubectl(t, nil, "get", "rayjob", "ray-dry-run", "-n", "flytesnacks-development")
		require.Error(t, err)
		require.Contains(t, stderr, "NotFound")
	})

	t.Run("objects without the annotation are stored as written", func(t *testing.T) {
		obj := `{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication","metadata":{"name":"plain","namespace":"flytesnacks-development"},
		 "spec":{"type":"Scala","sparkVersion":"3.5.1","mode":"cluster","image":"spark:3.5.1","mainClass":"org.example.Main","mainApplicationFile":"local:///app.jar",
		  "driver":{"cores":1,"memory":"512m"},"executor":{"instances":1,"cores":1,"memory":"512m"}}}`
		_, stderr, err := c.kubectl(t, []byte(obj), "create", "-f", "-")
		require.NoError(t, err, stderr)
		got := c.getJSON(t, "sparkapplication", "flytesnacks-development", "plain")
		var want map[string]any
		require.NoError(t, json.Unmarshal([]byte(obj), &want))
		require.NotContains(t, meta(got), "annotations")
		require.True(t, assertEqualJSON(t, comparable(want["spec"]), comparable(got["spec"]), nil), "stored as written")
	})

	refusals := []struct {
		name, obj, want string
	}{
		{"broken template",
			`{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication","metadata":{"name":"broken","namespace":"flytesnacks-development","annotations":{"flyte.org/task-template":"{\"type\": "}},"spec":{}}`,
			"metadata.annotations[flyte.org/task-template]"},
		{"task type of another kind",
			`{"apiVersion":"ray.io/v1","kind":"RayJob","metadata":{"name":"wrong-kind","namespace":"flytesnacks-development","annotations":{"flyte.org/task-template":"{\"type\":\"spark\",\"container\":{\"image\":\"i\"},\"custom\":{\"mainClass\":\"M\"}}"}},"spec":{}}`,
			"expands into a SparkApplication, not a RayJob"},
		{"invalid resources",
			`{"apiVersion":"kubernetes.dask.org/v1","kind":"DaskJob","metadata":{"name":"bad-res","namespace":"flytesnacks-development","annotations":{"flyte.org/task-template":"{\"type\":\"dask\",\"container\":{\"image\":\"i\",\"resources\":{\"limits\":[{\"name\":\"MEMORY\",\"value\":\"a lot\"}]}},\"custom\":{}}"}},"spec":{}}`,
			"container.resources.limits[0].value"},
	}
	for _, r := range refusals {
		t.Run("refused: "+r.name, func(t *testing.T) {
			_, stderr, err := c.kubectl(t, []byte(r.obj), "apply", "-f", "-")
			require.Error(t, err)
			require.Contains(t, stderr, "is invalid")
			require.Contains(t, stderr, r.want)
		})
	}

	interruptibleDriver := `{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication","metadata":{"name":"by-hand","namespace":"flytesnacks-development"},
	 "spec":{"type":"Python","sparkVersion":"3.5.1","mode":"cluster","image":"spark:3.5.1","mainApplicationFile":"local:///app.py",
	  "driver":{"cores":1,"tolerations":[{"key":"lifecycle","operator":"Equal","value":"spot","effect":"NoSchedule"}]},"executor":{"instances":2}}}`
	t.Run("a hand-written interruptible driver is refused in enforce mode", func(t *testing.T) {
		_, stderr, err := c.kubectl(t, []byte(interruptibleDriver), "apply", "-f", "-")
		require.Error(t, err)
		require.Contains(t, stderr, "spec.driver.tolerations[0]")
	})
	t.Run("and accepted with a warning in warn mode", func(t *testing.T) {
		require.NoError(t, os.WriteFile(c.policies, []byte("invariants: {mode: warn}\nforbid-privileged: {}\n"), 0o644))
		var stderr string
		require.Eventually(t, func() bool {
			var err error
			_, stderr, err = c.kubectl(t, []byte(interruptibleDriver), "apply", "-f", "-")
			return err == nil
		}, 30*time.Second, 200*time.Millisecond, "the policy change was not picked up: %s", stderr)
		require.Contains(t, stderr, "Warning:")
		require.Contains(t, stderr, "spec.driver.tolerations[0]")
	})

	t.Run("the admission policy refuses skeletons in namespaces that opted out of the webhooks", func(t *testing.T) {
		_, stderr, err := c.kubectl(t, []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"opted-out","labels":{"flyte.org/admission":"disabled"}}}`), "apply", "-f", "-")
		require.NoError(t, err, stderr)
		// A skeleton that passes the CRD schema (which runs before admission policies).
		obj := `{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication","metadata":{"name":"skeleton","namespace":"opted-out",
		 "annotations":{"flyte.org/task-template":"{\"type\":\"spark\",\"container\":{\"image\":\"i\"},\"custom\":{\"mainClass\":\"M\"}}"}},
		 "spec":{"type":"Scala","sparkVersion":"3.5.1","mainApplicationFile":"local:///app.jar","driver":{},"executor":{}}}`
		_, stderr, err = c.kubectl(t, []byte(obj), "apply", "-f", "-")
		require.Error(t, err)
		require.Contains(t, stderr, "ValidatingAdmissionPolicy")
		require.Contains(t, stderr, "flyte.org/expanded-from")
	})

	t.Run("metrics count the requests", func(t *testing.T) {
		resp, err := http.Get("http://" + c.serve.probeAddr() + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		body := buf.String()
		require.Contains(t, body, `flyte_admission_requests_total{kind="SparkApplication",operation="CREATE",result="patched",webhook="mutate"}`)
		require.Contains(t, body, `flyte_admission_denials_total{kind="SparkApplication",policy="invariants"}`)
		logLatency(t, body)
	})
}

// logLatency prints the mean admission latency seen by the server, from its
// histogram (for the closing note; not asserted).
func logLatency(t *testing.T, metrics string) {
	var sum, count float64
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "flyte_admission_request_duration_seconds_sum") {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			sum += v
		}
		if strings.HasPrefix(line, "flyte_admission_request_duration_seconds_count") {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			count += v
		}
	}
	if count > 0 {
		t.Logf("admission requests: %.0f, mean server latency %.2f ms", count, 1000*sum/count)
	}
}

var listIndex = regexp.MustCompile(`\[\d+\]`)

// assertEqualJSON compares two decoded JSON values and logs the paths where
// they differ. got may also hold fields the CRD schema defaults (the
// apiserver adds them), with their default value.
func assertEqualJSON(t *testing.T, want, got any, defaults map[string]any) bool {
	t.Helper()
	diffs := jsoncmp.Diff("spec", want, got, func(path string, v any) bool {
		d, ok := defaults[listIndex.ReplaceAllString(path, "[]")]
		if !ok {
			return false
		}
		dj, _ := json.Marshal(d)
		vj, _ := json.Marshal(v)
		return bytes.Equal(dj, vj)
	})
	for _, d := range diffs {
		t.Log(d)
	}
	return len(diffs) == 0
}
