// Command demo is `make demo`: it starts a real kube-apiserver and etcd with
// the operators' CRDs, registers flyte-admission's webhooks and admission
// policy, runs `flyte-admission serve` (webhook and watcher), applies
// examples/ with the real kubectl and prints what was stored, what was
// refused and the phases the watcher reports while it plays the operators'
// part. It stops everything it started on exit, Ctrl-C included.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/flyte-admission/flyte-admission/test/servelog"
	"github.com/flyte-admission/flyte-admission/test/syncbuf"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/flyte-admission/flyte-admission/internal/crds"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/webhook"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

func main() {
	bin := flag.String("binary", "bin/flyte-admission", "the flyte-admission binary")
	examples := flag.String("examples", "examples", "directory of skeletons to apply")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *examples); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// demo holds what the demo started, for cleanup.
type demo struct {
	env        *envtest.Environment
	client     client.Client
	kubeconfig string
	kubectl    string
	serve      *exec.Cmd
	serveLog   syncbuf.Buffer
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(ctx context.Context, bin, examples string) (err error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run `make demo`, which builds the control plane first")
	}
	d := &demo{}
	defer func() {
		if cerr := d.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil && d.serveLog.String() != "" {
			fmt.Fprintf(os.Stderr, "--- flyte-admission serve log ---\n%s", d.serveLog.String())
		}
	}()

	step("starting kube-apiserver + etcd with the operators' CRDs (spark-operator, KubeRay, dask-kubernetes)")
	start := time.Now()
	files, err := crds.Files(builtin.CRDs())
	if err != nil {
		return err
	}
	reg := webhook.RegistrationOptions{Namespace: "flyte-admission"}
	d.env = &envtest.Environment{
		CRDDirectoryPaths:     files,
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			MutatingWebhooks:   []*admissionregistrationv1.MutatingWebhookConfiguration{webhook.MutatingWebhookConfiguration(reg)},
			ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{webhook.ValidatingWebhookConfiguration(reg)},
		},
	}
	cfg, err := d.env.Start()
	if err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	if d.client, err = client.New(cfg, client.Options{}); err != nil {
		return err
	}
	// reg leaves Name to its default: print the installed object's name.
	policy := webhook.ValidatingAdmissionPolicy(reg)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: reg.Namespace}},
		policy, webhook.ValidatingAdmissionPolicyBinding(reg),
	} {
		if err := d.client.Create(ctx, o); err != nil {
			return fmt.Errorf("create %s: %w", o.GetName(), err)
		}
	}
	if err := d.writeKubeconfig(); err != nil {
		return err
	}
	fmt.Printf("    up in %.1fs: %d CRDs, webhooks registered, ValidatingAdmissionPolicy %q installed\n",
		time.Since(start).Seconds(), len(files), policy.GetName())

	step("starting flyte-admission serve (webhook + watcher)")
	if err := d.startServe(ctx, bin); err != nil {
		return err
	}

	step("kubectl apply -f %s/", examples)
	out, stderr, err := d.run(ctx, nil, "apply", "-f", examples+"/")
	fmt.Print(indent(out))
	fmt.Print(indent(stderr))
	if err != nil {
		return fmt.Errorf("kubectl apply: %w", err)
	}
	if err := d.report(ctx, examples); err != nil {
		return err
	}
	if err := d.refusals(ctx); err != nil {
		return err
	}
	return d.phases(ctx)
}

func (d *demo) writeKubeconfig() error {
	user, err := d.env.AddUser(envtest.User{Name: "demo", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "flyte-admission-demo-")
	if err != nil {
		return err
	}
	d.kubeconfig = filepath.Join(dir, "kubeconfig")
	d.kubectl = "kubectl"
	if p := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"); fileExists(p) {
		d.kubectl = p
	}
	return os.WriteFile(d.kubeconfig, kc, 0o600)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func (d *demo) startServe(ctx context.Context, bin string) error {
	wio := d.env.WebhookInstallOptions
	d.serve = exec.Command(bin, "serve",
		"--host", wio.LocalServingHost, "--port", strconv.Itoa(wio.LocalServingPort), "--cert-dir", wio.LocalServingCertDir,
		"--config", "examples/config/plugins.yaml", "--policies", "examples/config/policies.yaml",
		"--kubeconfig", d.kubeconfig, "--namespace", "flyte-admission",
		"--probe-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--shutdown-delay", "0s") // one listener, any free port
	d.serve.Stdout, d.serve.Stderr = &d.serveLog, &d.serveLog
	if err := d.serve.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		// serve logs the address it bound once its listener is up.
		if probe := servelog.Address(d.serveLog.String(), servelog.ProbesMetrics); probe != "" {
			if resp, err := http.Get("http://" + probe + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					fmt.Printf("    ready: webhook on https://%s:%d, probes and metrics on %s\n", wio.LocalServingHost, wio.LocalServingPort, probe)
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("flyte-admission serve did not become ready within a minute")
}

func (d *demo) run(ctx context.Context, stdin []byte, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, d.kubectl, append([]string{"--kubeconfig", d.kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), dropSkewWarning(errOut.String()), err
}

// dropSkewWarning removes kubectl's client/server version skew warning.
func dropSkewWarning(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "version difference between client") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

// report prints, for each applied job, the skeleton's size against the stored
// object's and the fields the webhook set.
func (d *demo) report(ctx context.Context, examples string) error {
	step("what the apiserver stored")
	objs, err := objects.ReadPath(examples)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    KIND\tNAME\tSKELETON\tSTORED\tWHAT THE WEBHOOK SET")
	for _, o := range objs {
		kind, _ := o.Map["kind"].(string)
		if kind == "Namespace" {
			continue
		}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": o.Map["apiVersion"], "kind": kind}}
		meta := o.Map["metadata"].(map[string]any)
		if err := d.client.Get(ctx, types.NamespacedName{Namespace: meta["namespace"].(string), Name: meta["name"].(string)}, u); err != nil {
			return fmt.Errorf("get %s: %w", o.Describe(), err)
		}
		skel, _ := yaml.Marshal(o.Map)
		u.SetManagedFields(nil)
		ann := u.GetAnnotations()
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		u.SetAnnotations(ann)
		stored, _ := yaml.Marshal(u.Object)
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", kind, u.GetName(), size(skel), size(stored), keyFields(u))
	}
	return tw.Flush()
}

func size(b []byte) string {
	return fmt.Sprintf("%d lines, %.1f KiB", bytes.Count(b, []byte("\n")), float64(len(b))/1024)
}

// keyFields summarises the invariants of the stored object.
func keyFields(u *unstructured.Unstructured) string {
	switch u.GetKind() {
	case "SparkApplication":
		dt, _, _ := unstructured.NestedSlice(u.Object, "spec", "driver", "tolerations")
		et, _, _ := unstructured.NestedSlice(u.Object, "spec", "executor", "tolerations")
		inst, _, _ := unstructured.NestedInt64(u.Object, "spec", "executor", "instances")
		return fmt.Sprintf("driver tolerations %s (never interruptible), executors %d with tolerations %s", tolerations(dt), inst, tolerations(et))
	case "RayJob":
		head, _, _ := unstructured.NestedSlice(u.Object, "spec", "rayClusterSpec", "headGroupSpec", "template", "spec", "containers")
		sub, _, _ := unstructured.NestedSlice(u.Object, "spec", "submitterPodTemplate", "spec", "containers")
		names := []string{}
		headImage := ""
		for _, c := range head {
			m := c.(map[string]any)
			names = append(names, m["name"].(string))
			if m["name"] == "ray-head" {
				headImage, _ = m["image"].(string)
			}
		}
		subImage := ""
		if len(sub) > 0 {
			subImage, _ = sub[0].(map[string]any)["image"].(string)
		}
		return fmt.Sprintf("head pod [%s], submitter image %s (head: %s)", strings.Join(names, ", "), subImage, headImage)
	case "DaskJob":
		sched, _, _ := unstructured.NestedSlice(u.Object, "spec", "cluster", "spec", "scheduler", "spec", "containers")
		args := []any{}
		if len(sched) > 0 {
			args, _ = sched[0].(map[string]any)["args"].([]any)
		}
		replicas, _, _ := unstructured.NestedInt64(u.Object, "spec", "cluster", "spec", "worker", "replicas")
		return fmt.Sprintf("scheduler %v, %d workers", args, replicas)
	}
	return ""
}

func tolerations(list []any) string {
	if len(list) == 0 {
		return "none"
	}
	var keys []string
	for _, t := range list {
		m := t.(map[string]any)
		k, _ := m["key"].(string)
		if v, ok := m["value"].(string); ok {
			k += "=" + v
		}
		keys = append(keys, k)
	}
	return "[" + strings.Join(keys, ", ") + "]"
}

// refusals applies objects the webhooks refuse and prints kubectl's message.
func (d *demo) refusals(ctx context.Context) error {
	cases := []struct{ title, obj string }{
		{"a hand-written SparkApplication whose driver tolerates spot nodes", `apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: by-hand, namespace: flytesnacks-development}
spec:
  type: Python
  sparkVersion: "3.5.1"
  mainApplicationFile: local:///app.py
  driver: {cores: 1, tolerations: [{key: lifecycle, operator: Equal, value: spot, effect: NoSchedule}]}
  executor: {instances: 2}
`},
		{"a skeleton whose task template has a bad memory limit", `apiVersion: kubernetes.dask.org/v1
kind: DaskJob
metadata:
  name: bad-memory
  namespace: flytesnacks-development
  annotations:
    flyte.org/task-template: |
      type: dask
      container: {image: ghcr.io/flyteorg/dask:latest, resources: {limits: [{name: MEMORY, value: "lots"}]}}
      custom: {workers: {numberOfWorkers: 2}}
spec: {}
`},
	}
	for _, c := range cases {
		step("refused: %s", c.title)
		_, stderr, err := d.run(ctx, []byte(c.obj), "apply", "-f", "-")
		if err == nil {
			return fmt.Errorf("%s was accepted", c.title)
		}
		fmt.Print(indent(stderr))
	}
	return nil
}

// phases plays the operators' part: it writes each job's status subresource
// step by step and prints the phase the watcher reports.
func (d *demo) phases(ctx context.Context) error {
	step("playing the operators: status updates and the Flyte phase the watcher reports")
	walks := []struct {
		kind, apiVersion, name string
		statuses               []map[string]any
	}{
		{"SparkApplication", "sparkoperator.k8s.io/v1beta2", "spark-pi", []map[string]any{
			{"applicationState": map[string]any{"state": "SUBMITTED"}, "driverInfo": map[string]any{}},
			{"applicationState": map[string]any{"state": "RUNNING"}, "driverInfo": map[string]any{"podName": "spark-pi-driver", "webUIIngressAddress": "spark-pi.example.com"}},
			{"applicationState": map[string]any{"state": "COMPLETED"}, "driverInfo": map[string]any{"podName": "spark-pi-driver"}, "sparkApplicationId": "spark-0001", "terminationTime": time.Now().UTC().Format(time.RFC3339)},
		}},
		{"RayJob", "ray.io/v1", "ray-train", []map[string]any{
			{"jobDeploymentStatus": "Initializing"},
			{"jobDeploymentStatus": "Running", "jobStatus": "RUNNING", "rayClusterName": "ray-train-raycluster-x7k2p", "jobId": "ray-train-abc", "dashboardURL": "ray-train-head-svc:8265"},
			{"jobDeploymentStatus": "Failed", "jobStatus": "FAILED", "reason": "AppFailed", "message": "Job entrypoint command failed with exit code 1"},
		}},
		{"DaskJob", "kubernetes.dask.org/v1", "dask-hello", []map[string]any{
			{"jobStatus": "JobCreated"},
			{"jobStatus": "ClusterCreated"},
			{"jobStatus": "Running", "jobRunnerPodName": "dask-hello-runner"},
			{"jobStatus": "Successful", "jobRunnerPodName": "dask-hello-runner"},
		}},
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    KIND\tNAME\tOPERATOR STATUS\tFLYTE PHASE\tREASON\tFIRST LOG LINK")
	for _, w := range walks {
		for _, st := range w.statuses {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion(w.apiVersion)
			u.SetKind(w.kind)
			key := types.NamespacedName{Namespace: "flytesnacks-development", Name: w.name}
			if err := d.client.Get(ctx, key, u); err != nil {
				return err
			}
			before := u.GetAnnotations()["flyte.org/phase-reason"] + "|" + u.GetAnnotations()["flyte.org/phase"]
			patch, _ := json.Marshal(map[string]any{"status": st})
			if err := d.client.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return fmt.Errorf("patch status of %s %s: %w", w.kind, w.name, err)
			}
			phase, reason, link, err := d.waitPhase(ctx, u, before)
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\n", w.kind, w.name, statusWord(st), phase, reason, link)
		}
	}
	return tw.Flush()
}

func statusWord(st map[string]any) string {
	for _, k := range []string{"jobDeploymentStatus", "jobStatus"} {
		if v, ok := st[k].(string); ok {
			return v
		}
	}
	if s, ok := st["applicationState"].(map[string]any); ok {
		return s["state"].(string)
	}
	return ""
}

// waitPhase waits until the watcher's annotations change from before.
func (d *demo) waitPhase(ctx context.Context, u *unstructured.Unstructured, before string) (string, string, string, error) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := d.client.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return "", "", "", err
		}
		ann := u.GetAnnotations()
		if now := ann["flyte.org/phase-reason"] + "|" + ann["flyte.org/phase"]; ann["flyte.org/phase"] != "" && now != before {
			var links []struct{ URI string }
			_ = json.Unmarshal([]byte(ann["flyte.org/log-links"]), &links)
			first := ""
			if len(links) > 0 {
				first = links[0].URI
			}
			reason := ann["flyte.org/phase-reason"]
			if len(reason) > 60 {
				reason = reason[:57] + "..."
			}
			return ann["flyte.org/phase"], reason, first, nil
		}
		select {
		case <-ctx.Done():
			return "", "", "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", "", "", fmt.Errorf("the watcher reported no phase for %s %s within 20 s", u.GetKind(), u.GetName())
}

func (d *demo) cleanup() error {
	step("stopping everything the demo started")
	if d.serve != nil && d.serve.Process != nil {
		_ = d.serve.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = d.serve.Process.Kill()
		}
	}
	if d.kubeconfig != "" {
		_ = os.RemoveAll(filepath.Dir(d.kubeconfig))
	}
	if d.env != nil {
		if err := d.env.Stop(); err != nil {
			return fmt.Errorf("stop control plane: %w", err)
		}
	}
	fmt.Println("    done")
	return nil
}
