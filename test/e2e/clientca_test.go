package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/flyte-admission/flyte-admission/test/testpki"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// admissionConfig is the kube-apiserver's --admission-control-config-file:
// both webhook admission plugins read the kubeconfig that holds, per webhook
// host, the credentials the apiserver presents to it.
const admissionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
`

// webhookKubeconfig holds one user, named after the webhooks it is for: a
// webhook's host:port (by Service: <service>.<namespace>.svc:<port>, or
// without :443), or "*" for every webhook, as here.
const webhookKubeconfig = `apiVersion: v1
kind: Config
users:
- name: %q
  user:
    client-certificate: %q
    client-key: %q
`

// TestClientCertificates runs a real kube-apiserver that presents a client
// certificate to the webhook (AdmissionConfiguration -> kubeconfig, as the
// Kubernetes docs' "Authenticate apiservers" describes) and `serve
// --client-ca-file` that requires one: the apiserver's calls go through, and
// anyone else (no certificate, or one of another CA) is refused during the
// TLS handshake.
func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	apiserverCA, otherCA := testpki.NewCA(t, "apiserver webhook client CA"), testpki.NewCA(t, "someone else's CA")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	caFile := write("client-ca.crt", apiserverCA.PEM)
	otherCAFile := write("other-ca.crt", otherCA.PEM)
	client := apiserverCA.Client(t, "kube-apiserver")
	certFile, keyFile := write("apiserver-client.crt", client.CertPEM), write("apiserver-client.key", client.KeyPEM)

	// The kubeconfig's user "*" is the apiserver's credential for every
	// webhook, so the webhook's port (envtest's, as in the other tests) need
	// not be known before the apiserver starts.
	kubeconfig := write("webhook-kubeconfig.yaml", fmt.Appendf(nil, webhookKubeconfig, "*", certFile, keyFile))
	admission := write("admission.yaml", fmt.Appendf(nil, admissionConfig, kubeconfig))

	c := newCluster(t, "invariants: {mode: enforce}\n", webhook.RegistrationOptions{}, func(o *testenv.Options) {
		o.APIServerFlags = map[string]string{"admission-control-config-file": admission}
	})
	wio := c.Env.Env.WebhookInstallOptions
	port := wio.LocalServingPort
	hostPort := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(port))
	certDir := c.Env.Env.WebhookInstallOptions.LocalServingCertDir
	c.serve = c.startServe(t, port, "--cert-dir", certDir, "--client-ca-file", caFile)
	c.serve.waitReady(t)

	t.Run("the apiserver's calls go through the webhook", func(t *testing.T) {
		out, stderr, err := c.kubectl(t, nil, "apply", "-f", "../../examples/00-namespace.yaml", "-f", "../../examples/spark-pi.yaml")
		require.NoError(t, err, stderr)
		require.Contains(t, out, "sparkapplication.sparkoperator.k8s.io/spark-pi created")
		got := c.getJSON(t, "sparkapplication", "flytesnacks-development", "spark-pi")
		require.Contains(t, meta(got)["annotations"], "flyte.org/expanded-from", "the mutating webhook expanded it")
		require.NotEmpty(t, got["spec"].(map[string]any)["driver"], "the stored object is the expansion")

		_, stderr, err = c.kubectl(t, []byte(`{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication",
		 "metadata":{"name":"by-hand","namespace":"flytesnacks-development"},
		 "spec":{"type":"Python","sparkVersion":"3.5.1","mode":"cluster","image":"spark:3.5.1","mainApplicationFile":"local:///app.py",
		  "driver":{"cores":1,"tolerations":[{"key":"lifecycle","operator":"Equal","value":"spot","effect":"NoSchedule"}]},"executor":{"instances":2}}}`),
			"apply", "-f", "-")
		require.Error(t, err)
		require.Contains(t, stderr, "spec.driver.tolerations[0]", "the validating webhook answered")
	})

	// A review as the apiserver would send it, posted directly.
	skeleton := offline(t, "../../examples/spark-pi.yaml")[0]
	delete(meta(skeleton), "annotations")
	raw, err := json.Marshal(skeleton)
	require.NoError(t, err)
	reviewBody, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:      types.UID("direct-1"),
			Kind:     metav1.GroupVersionKind{Group: "sparkoperator.k8s.io", Version: "v1beta2", Kind: "SparkApplication"},
			Resource: metav1.GroupVersionResource{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "sparkapplications"},
			Name:     "direct", Namespace: "flytesnacks-development", Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw},
		},
	})
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(c.Env.Env.WebhookInstallOptions.LocalServingCAData))
	post := func(cert *testpki.Pair) (int, error) {
		tc := &tls.Config{RootCAs: roots}
		if cert != nil {
			c := cert.TLS(t)
			tc.GetClientCertificate = testpki.Always(&c)
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
		resp, err := hc.Post("https://"+hostPort+webhook.ValidatePath, "application/json", bytes.NewReader(reviewBody))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	other := otherCA.Client(t, "kube-apiserver")
	for _, tc := range []struct {
		name    string
		cert    *testpki.Pair
		wantErr string // the TLS alert; "" = answered
	}{
		{"a direct POST without a client certificate is refused at the TLS layer", nil, "remote error: tls: certificate required"},
		{"a direct POST with a certificate of another CA is refused at the TLS layer", &other, "remote error: tls: unknown certificate authority"},
		{"a direct POST with the apiserver's certificate is answered", &client, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := post(tc.cert)
			if tc.wantErr != "" {
				require.Error(t, err, "no HTTP answer")
				require.Zero(t, code)
				var cert *tls.Certificate
				if tc.cert != nil {
					c := tc.cert.TLS(t)
					cert = &c
				}
				refusal := testpki.TLSRefusal(t, hostPort, roots, cert, 0)
				require.ErrorContains(t, refusal, tc.wantErr, "a TLS alert")
				t.Logf("POST: %v; TLS: %v", err, refusal)
				return
			}
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
		})
	}

	t.Run("a webhook trusting another CA refuses the apiserver, which then fails closed", func(t *testing.T) {
		c.serve.stop(t)
		c.serve = c.startServe(t, port, "--cert-dir", certDir, "--client-ca-file", otherCAFile)
		c.serve.waitReady(t)
		data, err := os.ReadFile("../../examples/ray-train.yaml")
		require.NoError(t, err)
		_, stderr, err := c.kubectl(t, data, "create", "-f", "-")
		require.Error(t, err, "the mutating webhook could not be called")
		require.Contains(t, stderr, "failed calling webhook")
		require.Contains(t, stderr, "tls: ")
		t.Logf("kubectl: %s", stderr)
		_, stderr, err = c.kubectl(t, nil, "get", "rayjob", "ray-train", "-n", "flytesnacks-development")
		require.Error(t, err)
		require.Contains(t, stderr, "NotFound")
	})
}
