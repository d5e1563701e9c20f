package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

// selfSigned writes a self-signed serving certificate for 127.0.0.1 into dir
// and returns it (PEM).
func selfSigned(t testing.TB, dir string, serial int64) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "flyte-admission test"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Write the key first and the cert last, each atomically, like a rotation.
	writeAtomic(t, filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	writeAtomic(t, filepath.Join(dir, "tls.crt"), certPEM)
	return certPEM
}

func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestServer runs the real controller-runtime webhook server on 127.0.0.1
// over TLS: not ready until the certificate appears, then serves both
// webhooks over HTTP/1.1 and TLS >= 1.2, exposes probes and metrics, follows
// a certificate rotation and drains on shutdown.
func TestServer(t *testing.T) {
	dir := t.TempDir()
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	certs := NewDirCerts(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	certs.Poll, certs.Interval = 20*time.Millisecond, 50*time.Millisecond
	srv, err := NewServer(Options{
		Host:  "127.0.0.1",
		Port:  0, // any free port: WebhookAddr says which
		Certs: certs,
		// Two address strings, two listeners (the same string would share one).
		ProbeAddr: "127.0.0.1:0", MetricsAddr: "localhost:0",
		Mutator:   &Mutator{Registry: registry, Config: func() *config.Config { return cfg }, Now: fixedNow},
		Validator: &Validator{Registry: registry, Config: func() *config.Config { return cfg }, Policies: func() *policy.Set { return nil }},
		ReadyChecks: []Check{{Name: "config", Informational: true, Check: func() error {
			return errTest("config reload failed, still using the previous config")
		}}},
		ShutdownDelay: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	eventually(t, "listeners", func() bool { return srv.ProbeAddr() != "" && srv.MetricsAddr() != "" && srv.WebhookAddr() != "" })
	probe, metrics := "http://"+srv.ProbeAddr(), "http://"+srv.MetricsAddr()
	require.NotEqual(t, srv.ProbeAddr(), srv.MetricsAddr())
	addr := srv.WebhookAddr()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	require.NotEqual(t, "0", port, "the bound port, not the asked-for one")
	code, body := get(t, probe+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body = get(t, probe+"/readyz")
	require.Equal(t, http.StatusInternalServerError, code, "no certificate yet")
	require.Contains(t, body, "[-]certificate failed")

	caPEM := selfSigned(t, dir, 1)
	eventually(t, "ready", func() bool { c, _ := get(t, probe+"/readyz"); return c == http.StatusOK })
	_, body = get(t, probe+"/readyz")
	require.Contains(t, body, "[+]certificate ok\n[+]webhook ok\n[!]config: config reload failed")

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
	base := "https://" + addr
	post := func(path string, body []byte) *admissionv1.AdmissionResponse {
		resp, err := client.Post(base+path, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, "HTTP/1.1", resp.Proto, "HTTP/2 is off by default")
		require.NotNil(t, resp.TLS)
		require.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return responseOf(t, data)
	}

	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	want := mustExpand(t, cfg, skeleton)
	resp := post(MutatePath, review(t, admissionv1.Create, skeleton, nil, false))
	require.JSONEq(t, string(mustJSON(t, want)), string(mustJSON(t, apply(t, skeleton, resp))))
	resp = post(ValidatePath, review(t, admissionv1.Create, parseYAML(t, interruptibleDriver), nil, false))
	require.False(t, resp.Allowed)
	require.Equal(t, []string{"spec.driver.tolerations[0]"}, causes(resp))
	resp = post(ValidatePath, review(t, admissionv1.Create, want, nil, false))
	require.True(t, resp.Allowed, "the expansion passes validation")

	// TLS below 1.2 is refused.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11})
	require.Error(t, err)

	code, body = get(t, metrics+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`flyte_admission_requests_total{kind="SparkApplication",operation="CREATE",result="patched",webhook="mutate"}`,
		`flyte_admission_requests_total{kind="SparkApplication",operation="CREATE",result="denied",webhook="validate"}`,
		`flyte_admission_denials_total{kind="SparkApplication",policy="invariants"}`,
		`flyte_admission_request_duration_seconds_bucket{kind="SparkApplication",operation="CREATE",webhook="mutate",le="0.005"}`,
	} {
		require.Contains(t, body, want)
	}
	code, _ = get(t, probe+"/metrics")
	require.Equal(t, http.StatusNotFound, code, "metrics only on the metrics address")

	// Rotation: a new certificate is served without a restart.
	newPEM := selfSigned(t, dir, 2)
	newPool := x509.NewCertPool()
	require.True(t, newPool.AppendCertsFromPEM(newPEM))
	eventually(t, "rotated certificate", func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: newPool})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})

	// Shutdown: not ready first, then the listeners close and Start returns.
	cancel()
	eventually(t, "not ready while draining", func() bool {
		c, b := get(t, probe+"/readyz")
		return c == http.StatusInternalServerError && strings.Contains(b, "[-]shutdown failed")
	})
	select {
	case err := <-done:
		require.NoError(t, err)
		done <- nil
	case <-time.After(70 * time.Second):
		t.Fatal("Start did not return after shutdown")
	}
}

func TestServerSharedProbeAndMetricsAddress(t *testing.T) {
	dir := t.TempDir()
	selfSigned(t, dir, 1)
	// The same address, port 0 included: one listener on one free port.
	srv, err := NewServer(Options{Host: "127.0.0.1", CertDir: dir, ProbeAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		Mutator: &Mutator{Registry: registry}, Validator: &Validator{Registry: registry}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	eventually(t, "probe listener", func() bool { return srv.ProbeAddr() != "" })
	addr := srv.ProbeAddr()
	eventually(t, "ready", func() bool { c, _ := get(t, "http://"+addr+"/readyz"); return c == http.StatusOK })
	code, body := get(t, "http://"+addr+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "flyte_admission_requests_total")
	require.Equal(t, addr, srv.MetricsAddr())
	cancel()
	require.NoError(t, <-done)
}

func TestServerErrors(t *testing.T) {
	_, err := NewServer(Options{CertDir: "x"})
	require.ErrorContains(t, err, "both a Mutator and a Validator")
	_, err = NewServer(Options{Mutator: &Mutator{}, Validator: &Validator{}})
	require.ErrorContains(t, err, "cert directory")

	// A port in use is an error from Start, not a hang.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	dir := t.TempDir()
	selfSigned(t, dir, 1)
	srv, err := NewServer(Options{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, CertDir: dir,
		Mutator: &Mutator{Registry: registry}, Validator: &Validator{Registry: registry}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Start(ctx)
	require.ErrorContains(t, err, "webhook server")
	require.ErrorContains(t, err, "address already in use")
}

type errTest string

func (e errTest) Error() string { return string(e) }
