package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/flyte-admission/flyte-admission/test/testpki"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

func TestParseClientCAs(t *testing.T) {
	a, b := testpki.NewCA(t, "a"), testpki.NewCA(t, "b")
	key := testpki.NewCA(t, "c").Client(t, "x").KeyPEM
	for _, tc := range []struct {
		name     string
		data     []byte
		wantErr  string
		subjects int
	}{
		{name: "one CA", data: a.PEM, subjects: 1},
		{name: "two CAs", data: append(append([]byte{}, a.PEM...), b.PEM...), subjects: 2},
		{name: "empty file", data: nil, wantErr: "no PEM CERTIFICATE block"},
		{name: "not PEM", data: []byte("ca.crt\n"), wantErr: "no PEM CERTIFICATE block"},
		{name: "a key among the certificates", data: append(append([]byte{}, a.PEM...), key...), wantErr: `PEM block 2 is a "EC PRIVATE KEY", want CERTIFICATE`},
		{name: "a certificate that does not parse", data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), wantErr: "PEM block 1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := parseClientCAs(tc.data)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, pool.Subjects(), tc.subjects) //nolint:staticcheck // counting a pool we built
		})
	}
	_, err := NewClientCAFile(filepath.Join(t.TempDir(), "missing.crt"))
	require.ErrorContains(t, err, "client-ca: open")
}

// TestServerRequiresClientCertificates: with ClientCAs set, only a client
// presenting a certificate of a trusted CA gets an answer; anyone else is
// refused during the TLS handshake, on TLS 1.2 and 1.3. A rewritten CA file,
// once reloaded, applies to the next connection.
func TestServerRequiresClientCertificates(t *testing.T) {
	serving := testpki.NewCA(t, "serving CA")
	apiserverCA, otherCA := testpki.NewCA(t, "apiserver client CA"), testpki.NewCA(t, "someone else's CA")
	dir := t.TempDir()
	pair := serving.Serving(t, "127.0.0.1")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.crt"), pair.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tls.key"), pair.KeyPEM, 0o600))
	caFile := filepath.Join(dir, "client-ca.crt")
	require.NoError(t, os.WriteFile(caFile, apiserverCA.PEM, 0o600))
	cas, err := NewClientCAFile(caFile)
	require.NoError(t, err)

	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	srv, err := NewServer(Options{
		Host: "127.0.0.1", Port: 0, CertDir: dir, ClientCAs: cas.Current, // port 0: any free port
		ProbeAddr: "127.0.0.1:0", MetricsAddr: "0",
		Mutator:   &Mutator{Registry: registry, Config: func() *config.Config { return cfg }, Now: fixedNow},
		Validator: &Validator{Registry: registry, Config: func() *config.Config { return cfg }, Policies: func() *policy.Set { return nil }},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	eventually(t, "probe listener", func() bool { return srv.ProbeAddr() != "" })
	eventually(t, "ready", func() bool { c, _ := get(t, "http://"+srv.ProbeAddr()+"/readyz"); return c == http.StatusOK })
	addr := srv.WebhookAddr()

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(serving.PEM))
	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	body := review(t, admissionv1.Create, skeleton, nil, false)
	// post sends one review on a new connection with the client certificate
	// given (nil: none) and returns the answer or the error.
	post := func(cert *tls.Certificate, maxVersion uint16) (*admissionv1.AdmissionResponse, error) {
		tc := &tls.Config{RootCAs: roots, MaxVersion: maxVersion}
		if cert != nil {
			tc.GetClientCertificate = testpki.Always(cert)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
		resp, err := client.Post("https://"+addr+MutatePath, "application/json", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
		return responseOf(t, data), nil
	}
	trusted := apiserverCA.Client(t, "kube-apiserver")
	other := otherCA.Client(t, "kube-apiserver")
	servingOnly := apiserverCA.Serving(t, "127.0.0.1") // right CA, not a client certificate
	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS 1.2", tls.VersionTLS12}, {"TLS 1.3", tls.VersionTLS13}} {
		for _, tc := range []struct {
			name    string
			cert    *testpki.Pair
			wantErr string // "" = answered
		}{
			{"a client certificate of the trusted CA is answered", &trusted, ""},
			{"no client certificate is refused", nil, "remote error: tls: "},
			{"a client certificate of another CA is refused", &other, "remote error: tls: unknown certificate authority"},
			{"a serving certificate of the trusted CA is refused", &servingOnly, "remote error: tls: bad certificate"},
		} {
			t.Run(v.name+": "+tc.name, func(t *testing.T) {
				var cert *tls.Certificate
				if tc.cert != nil {
					c := tc.cert.TLS(t)
					cert = &c
				}
				resp, err := post(cert, v.max)
				if tc.wantErr == "" {
					require.NoError(t, err)
					require.True(t, resp.Allowed)
					require.NotEmpty(t, resp.Patch, "the skeleton was expanded")
					return
				}
				require.Error(t, err, "no HTTP answer")
				require.Nil(t, resp)
				refusal := testpki.TLSRefusal(t, addr, roots, cert, v.max)
				require.ErrorContains(t, refusal, tc.wantErr)
				t.Logf("refused: %v", refusal)
			})
		}
	}
	_, probeBody := get(t, "http://"+srv.ProbeAddr()+"/readyz")
	require.Contains(t, probeBody, "[+]webhook ok", "the listener check still passes with client certificates required")

	// The CA is replaced: the next connection is checked against the new one.
	require.NoError(t, os.WriteFile(caFile, otherCA.PEM, 0o600))
	require.True(t, cas.Reload())
	t1, t2 := trusted.TLS(t), other.TLS(t)
	_, err = post(&t1, 0)
	require.Error(t, err, "the replaced CA's client is refused")
	require.ErrorContains(t, testpki.TLSRefusal(t, addr, roots, &t1, 0), "remote error: tls: unknown certificate authority")
	resp, err := post(&t2, 0)
	require.NoError(t, err)
	require.True(t, resp.Allowed)

	// A bundle that no longer parses keeps the previous one in force.
	require.NoError(t, os.WriteFile(caFile, []byte("not a certificate"), 0o600))
	require.False(t, cas.Reload())
	require.ErrorContains(t, cas.Err(), "no PEM CERTIFICATE block")
	resp, err = post(&t2, 0)
	require.NoError(t, err)
	require.True(t, resp.Allowed)
}
