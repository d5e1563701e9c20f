package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"github.com/flyte-admission/flyte-admission/test/servelog"
	"github.com/flyte-admission/flyte-admission/test/syncbuf"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "serve test"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "serving.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "serving.crt"), certPEM, 0o600))
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	return pool
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe runs `flyte-admission serve` in-process: it serves the webhooks
// over TLS with the given certificate, follows policy file changes, keeps
// the old policies when the new file is broken (and says so in /readyz), and
// stops cleanly when its context ends.
func TestServe(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	dir := t.TempDir()
	pool := writeCert(t, dir)
	policies := filepath.Join(dir, "policies.yaml")
	require.NoError(t, os.WriteFile(policies, []byte("invariants: {mode: enforce}\n"), 0o600))
	var errOut syncbuf.Buffer
	cmd := newRootCmd(strings.NewReader(""), io.Discard, &errOut)
	// Port 0: any free port; the log says which (one probe/metrics listener:
	// the same address).
	cmd.SetArgs([]string{"serve", "--host", "127.0.0.1", "--port", "0",
		"--cert-dir", dir, "--tls-cert-name", "serving.crt", "--tls-key-name", "serving.key",
		"--probe-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--config", "../../examples/config/plugins.yaml", "--policies", policies,
		"--reload-interval", "20ms", "--shutdown-delay", "0s", "--zap-log-level", "info"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	var webhookAddr, probeAddr string
	waitFor(t, "listening", func() bool {
		webhookAddr = servelog.Address(errOut.String(), servelog.Webhook)
		probeAddr = servelog.Address(errOut.String(), servelog.ProbesMetrics)
		return webhookAddr != "" && probeAddr != ""
	})
	probe := "http://" + probeAddr
	waitFor(t, "ready", func() bool { c, _ := httpGet(probe + "/readyz"); return c == http.StatusOK })

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	post := func(path string, op admissionv1.Operation, obj map[string]any) *admissionv1.AdmissionResponse {
		t.Helper()
		raw, err := json.Marshal(obj)
		require.NoError(t, err)
		meta := obj["metadata"].(map[string]any)
		gv := strings.SplitN(obj["apiVersion"].(string), "/", 2)
		body, err := json.Marshal(&admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u1", Operation: op, Name: meta["name"].(string), Namespace: meta["namespace"].(string),
				Kind: metav1.GroupVersionKind{Group: gv[0], Version: gv[1], Kind: obj["kind"].(string)}, Object: runtime.RawExtension{Raw: raw}},
		})
		require.NoError(t, err)
		resp, err := client.Post("https://"+webhookAddr+path, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out.Response
	}

	objs, err := objects.ReadPath("../../examples/ray-train.yaml")
	require.NoError(t, err)
	resp := post("/mutate", admissionv1.Create, objs[0].Map)
	require.True(t, resp.Allowed)
	require.NotEmpty(t, resp.Patch)
	require.Contains(t, string(resp.Patch), "ray-logs", "the configured logs sidecar (--config) is injected")

	driver := map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": "by-hand", "namespace": "analytics"},
		"spec": map[string]any{"driver": map[string]any{"tolerations": []any{
			map[string]any{"key": "lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}}}},
	}
	resp = post("/validate", admissionv1.Create, driver)
	require.False(t, resp.Allowed)
	require.EqualValues(t, http.StatusUnprocessableEntity, resp.Result.Code)

	// Policies switched to warn: picked up without a restart.
	require.NoError(t, os.WriteFile(policies, []byte("invariants: {mode: warn}\n"), 0o600))
	waitFor(t, "policies reload", func() bool { return post("/validate", admissionv1.Create, driver).Allowed })
	require.NotEmpty(t, post("/validate", admissionv1.Create, driver).Warnings)

	// A broken file keeps the previous policies and shows in /readyz.
	require.NoError(t, os.WriteFile(policies, []byte("invariants: {mode: sometimes}\n"), 0o600))
	waitFor(t, "reload error in /readyz", func() bool {
		c, body := httpGet(probe + "/readyz")
		return c == http.StatusOK && strings.Contains(body, "[!]policies: policies reload failed")
	})
	require.True(t, post("/validate", admissionv1.Create, driver).Allowed, "still the warn-mode policies")
	_, metrics := httpGet(probe + "/metrics")
	require.Contains(t, metrics, `flyte_admission_config_reload_errors_total{source="policies"} 1`)
	require.Contains(t, metrics, `flyte_admission_requests_total{kind="RayJob",operation="CREATE",result="patched",webhook="mutate"} 1`)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
		done <- nil
	case <-time.After(70 * time.Second):
		t.Fatal("serve did not stop")
	}
	require.Contains(t, errOut.String(), "webhook server stopped")
}

func TestServeErrors(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	bad := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("plugins: {spark: {spark-config-defaults: {}}}"), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", bad}, `unknown key "plugins.spark.spark-config-defaults"`},
		{[]string{"--policies", bad}, `unknown key "plugins"`},
		{[]string{"--cert-mode", "magic"}, `--cert-mode "magic": want one of dir`},
		{[]string{"--cert-dir", ""}, "--cert-dir is required"},
		{[]string{"--kubeconfig", filepath.Join(t.TempDir(), "missing")}, "--kubeconfig"},
		{[]string{"--client-ca-file", filepath.Join(t.TempDir(), "missing.crt")}, "--client-ca-file: client-ca: open"},
		{[]string{"--client-ca-file", bad}, "--client-ca-file: client-ca " + bad + ": no PEM CERTIFICATE block"},
		{[]string{"--client-ca-file", bad, "--webhook=false"}, "--client-ca-file applies to the webhook: it needs --webhook"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, stderr, code := run(t, append([]string{"serve", "--probe-addr", "0", "--metrics-addr", "0"}, tc.args...)...)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, tc.want)
		})
	}
}

func TestManifests(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o600))
	out, stderr, code := run(t, "manifests", "--namespace", "flyte", "--ca-bundle-file", ca, "--validating-failure-policy", "Ignore")
	require.Equal(t, 0, code, stderr)
	objs, err := objects.Read(strings.NewReader(out))
	require.NoError(t, err)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Map["kind"].(string))
		require.Equal(t, "flyte-admission", o.Map["metadata"].(map[string]any)["name"])
		require.NotContains(t, o.Map["metadata"], "creationTimestamp")
	}
	require.Equal(t, []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}, kinds)
	mwh := objs[2].Map["webhooks"].([]any)[0].(map[string]any)
	cc := mwh["clientConfig"].(map[string]any)
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")), cc["caBundle"])
	require.Equal(t, "flyte", cc["service"].(map[string]any)["namespace"])
	require.Equal(t, "Fail", mwh["failurePolicy"])
	failurePolicies := func(vwc map[string]any) map[string]any {
		out := map[string]any{}
		for _, w := range vwc["webhooks"].([]any) {
			out[w.(map[string]any)["name"].(string)] = w.(map[string]any)["failurePolicy"]
		}
		return out
	}
	require.Equal(t, map[string]any{webhook.ValidatingWebhookName: "Ignore", webhook.PoliciesWebhookName: "Ignore"}, failurePolicies(objs[3].Map),
		"--validating-failure-policy sets the Flyte objects' webhook, the policies one defaults to Ignore")

	out, _, code = run(t, "manifests", "-o", "json", "--url", "https://127.0.0.1:9443")
	require.Equal(t, 0, code)
	var list map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list["items"], 4)
	require.Contains(t, out, `"url": "https://127.0.0.1:9443/mutate"`)

	out, stderr, code = run(t, "manifests", "--policies-failure-policy", "Fail")
	require.Equal(t, 0, code, stderr)
	objs, err = objects.Read(strings.NewReader(out))
	require.NoError(t, err)
	require.Equal(t, map[string]any{webhook.ValidatingWebhookName: "Fail", webhook.PoliciesWebhookName: "Fail"}, failurePolicies(objs[3].Map))

	_, stderr, code = run(t, "manifests", "--url", "http://insecure")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "must start with https://")
	_, stderr, code = run(t, "manifests", "--policies-failure-policy", "Sometimes")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `policies failure policy "Sometimes": want Fail or Ignore`)
}
