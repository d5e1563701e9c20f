package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/flyte-admission/flyte-admission/test/testenv"
)

// TestEnvtestRotationWithoutFailedRequests runs against a real kube-apiserver
// and etcd: two replicas share the Secret; the MutatingWebhookConfiguration
// points at replica A's webhook server and the ValidatingWebhookConfiguration
// at replica B's (both failurePolicy Fail, each response closing the
// connection so that every call is a new TLS handshake verified against the
// caBundle of that moment). While serving certificates are renewed every few
// seconds and the CA is rotated, ConfigMaps are created continuously and none
// may fail.
func TestEnvtestRotationWithoutFailedRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the rotation run takes about 30s")
	}
	assets, err := testenv.Assets()
	require.NoError(t, err)
	ctrllog.SetLogger(logr.Discard()) // controller-runtime's own (certwatcher)
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })

	c, err := client.New(cfg, client.Options{Scheme: testScheme(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}))
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "probe", Labels: map[string]string{"certs-test": "probe"}}}))

	// The replicas' listeners, bound first (port 0: any free port) so that
	// the webhook configurations can name their ports.
	var lns []net.Listener
	var ports []int
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() }) // if the test fails before Serve owns it
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"certs-test": "probe"}}
	url := func(port int, path string) *string { u := fmt.Sprintf("https://127.0.0.1:%d%s", port, path); return &u }
	require.NoError(t, c.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: testMutating},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.certs-test.flyte.org", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url(ports[0], "/mutate")},
			Rules: rules, NamespaceSelector: sel, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}))
	require.NoError(t, c.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: testValidting},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{
				Name: "validate.certs-test.flyte.org", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url(ports[1], "/validate")},
				Rules: rules, NamespaceSelector: sel, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
				AdmissionReviewVersions: []string{"v1"},
			},
			{
				Name: "validate2.certs-test.flyte.org", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url(ports[1], "/validate")},
				Rules: rules, NamespaceSelector: sel, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
				AdmissionReviewVersions: []string{"v1"},
			},
		},
	}))

	var calls atomic.Int64
	allow := &webhook.Admission{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		calls.Add(1)
		return admission.Allowed("")
	})}
	closing := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close") // every call is a new handshake
			h.ServeHTTP(w, r)
		})
	}

	ms := make([]*Manager, 2)
	for i := range ms {
		ms[i], err = New(Options{
			SecretName: testSecret, SecretNamespace: testNS,
			ServiceName: "flyte-admission", ServiceNamespace: testNS,
			ExtraIPs:            []net.IP{net.ParseIP("127.0.0.1")},
			CertDir:             t.TempDir(),
			MutatingWebhookName: testMutating, ValidatingWebhookName: testValidting,
			ServingValidity: 8 * time.Second,  // renewed every ~5s
			CAValidity:      24 * time.Second, // new CA at ~15s, signing at ~18s, old one gone at 24s
			CAOverlap:       3 * time.Second,
			ResyncInterval:  2 * time.Second,
			Client:          c,
			Log:             testr.NewWithOptions(t, testr.Options{Verbosity: 0}).WithName(fmt.Sprintf("replica-%d", i)),
		})
		require.NoError(t, err)
		require.NoError(t, ms[i].Ensure(ctx))
		require.NoError(t, ms[i].Ready())
	}
	require.Equal(t, ms[0].CABundle(), ms[1].CABundle(), "one CA for both replicas")

	// The Secret and the caBundles, from the real API server.
	sec := getSecret(t, c)
	require.Equal(t, corev1.SecretTypeTLS, sec.Type)
	require.Equal(t, ms[0].CABundle(), sec.Data["ca.crt"])
	require.Equal(t, "flyte-admission", sec.Labels["app.kubernetes.io/managed-by"])
	bundles := caBundles(t, ctx, c)
	require.Len(t, bundles, 3)
	for _, b := range bundles {
		require.Equal(t, ms[0].CABundle(), b)
	}

	var wg sync.WaitGroup
	for i, m := range ms {
		// What controller-runtime's webhook server does, on our listener: the
		// certificate files followed by a certwatcher.
		cw, err := certwatcher.New(filepath.Join(m.o.CertDir, CertFile), filepath.Join(m.o.CertDir, KeyFile))
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/mutate", closing(allow))
		mux.Handle("/validate", closing(allow))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		tlsLn := tls.NewListener(lns[i], &tls.Config{GetCertificate: cw.GetCertificate, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
		wg.Add(4)
		go func() { defer wg.Done(); _ = cw.Start(ctx) }()
		go func() {
			defer wg.Done()
			if err := srv.Serve(tlsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("replica %d: serve: %v", i, err)
			}
		}()
		go func() { defer wg.Done(); <-ctx.Done(); _ = srv.Close() }()
		go func() { defer wg.Done(); _ = m.Start(ctx) }()
	}
	defer wg.Wait()
	defer cancel()

	// Which certificates the servers present, seen from the outside.
	served := map[string]bool{}
	issuers := map[string]bool{}
	probe := func() {
		for _, p := range ports {
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only looking
			if err != nil {
				continue
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			served[leaf.SerialNumber.String()] = true
			issuers[leaf.Issuer.CommonName] = true
			conn.Close()
		}
	}
	require.Eventually(t, func() bool { probe(); return len(served) > 0 }, 10*time.Second, 50*time.Millisecond)

	// Create ConfigMaps until the servers have presented 6 serving
	// certificates from 2 CAs (renewals and a CA rotation seen on the wire:
	// events, however slow the machine); the deadline only guards a hang.
	hang := time.Now().Add(5 * time.Minute)
	var created, failed int
	var failures []string
	for i := 0; len(served) < 6 || len(issuers) < 2; i++ {
		require.False(t, time.Now().After(hang), "no rotation seen: %d serving certificates from %d CAs", len(served), len(issuers))
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "probe", Name: fmt.Sprintf("cm-%d", i)}}
		if err := c.Create(ctx, cm); err != nil {
			failed++
			if len(failures) < 5 {
				failures = append(failures, fmt.Sprintf("%s: %v", cm.Name, err))
			}
		} else {
			created++
		}
		probe()
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d ConfigMaps created, %d failed, %d webhook calls, %d serving certificates and %d CAs seen on the wire",
		created, failed, calls.Load(), len(served), len(issuers))
	require.Zero(t, failed, "requests failed during rotation:\n%s", strings.Join(failures, "\n"))
	require.GreaterOrEqual(t, calls.Load(), int64(3*created), "every create went through the three webhooks")
	require.Positive(t, created)

	// Shutdown leaves the webhook configurations in place.
	cancel()
	wg.Wait()
	require.Len(t, caBundles(t, context.Background(), c), 3)
	for _, m := range ms {
		require.NoError(t, m.Ready())
	}
}
