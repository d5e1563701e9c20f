package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"github.com/flyte-admission/flyte-admission/test/syncbuf"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// TestServerLimits: the HTTPS server's limits and timeouts are set (slow
// clients are exercised by TestHostileInputs), HTTP/2 is off, and each
// admission request has a deadline below timeoutSeconds (lowered by the
// apiserver's ?timeout=) after which it is refused with a Timeout status even
// if the handler ignores its context; the server keeps serving.
func TestServerLimits(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	m, v := examplesHandlers(t)
	// What the slow handler saw: its context's deadline, and how much of it
	// was left when it started.
	type seen struct {
		deadline time.Time
		left     time.Duration
	}
	seenc := make(chan seen, 1)
	slow := admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if req.Name == "slow" {
			dl, _ := ctx.Deadline() // none: the zero time, which fails the test
			seenc <- seen{dl, time.Until(dl)}
			<-release // ignores ctx: the guard must answer anyway
		}
		return m.Handle(ctx, req)
	})
	l := startLive(t, Options{Mutator: slow, Validator: v, RequestTimeout: 600 * time.Millisecond})
	srv := l.https.srv.Load()
	require.NotNil(t, srv)
	require.Equal(t, DefaultReadHeaderTimeout, srv.ReadHeaderTimeout)
	require.Equal(t, DefaultReadTimeout, srv.ReadTimeout)
	require.Equal(t, DefaultWriteTimeout, srv.WriteTimeout)
	require.Equal(t, DefaultIdleTimeout, srv.IdleTimeout)
	require.Equal(t, MaxHeaderBytes, srv.MaxHeaderBytes)
	require.False(t, srv.Protocols.HTTP2(), "HTTP/2 off unless asked for")
	require.Less(t, DefaultRequestTimeout, time.Duration(DefaultTimeoutSeconds)*time.Second)
	require.LessOrEqual(t, MaxRequestBytes, 7<<20)

	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	slowObj := deepCopy(t, skeleton)
	slowObj["metadata"].(map[string]any)["name"] = "slow"
	sent := 0
	for _, c := range []struct {
		query string
		max   time.Duration
	}{
		{"", 600 * time.Millisecond},                       // RequestTimeout
		{"?timeout=1s", 500 * time.Millisecond},            // half of a short apiserver timeout
		{"?timeout=900ms", 450 * time.Millisecond},         // half
		{"?timeout=10ms", 5 * time.Millisecond},            // half
		{"?timeout=1s&timeout=9s", 500 * time.Millisecond}, // the first one
		{"?timeout=30s", 600 * time.Millisecond},           // 29s: never above RequestTimeout
		{"?timeout=100000h", 600 * time.Millisecond},       // never above RequestTimeout
		{"?timeout=bogus", 600 * time.Millisecond},         // ignored
		{"?timeout=-5s", 600 * time.Millisecond},           // ignored
		{"?timeout=0s", 600 * time.Millisecond},            // ignored
		{"?timeout=%zz", 600 * time.Millisecond},           // malformed query: ignored
	} {
		sentAt := time.Now()
		resp, err := postReview(l, MutatePath+c.query, review(t, admissionv1.Create, slowObj, nil, false))
		sent++
		require.NoError(t, err, c.query)
		require.False(t, resp.Allowed, c.query)
		require.Equal(t, int32(http.StatusGatewayTimeout), resp.Result.Code, c.query)
		require.Equal(t, metav1.StatusReasonTimeout, resp.Result.Reason, c.query)
		require.Contains(t, resp.Result.Message, "longer than the webhook's deadline", c.query)
		require.Equal(t, "uid-slow", string(resp.UID), c.query)
		// The handler still blocks: the answer came from the deadline. The
		// deadline the guard set is c.max from when it read the request,
		// which is after the test sent it and before the handler ran; so
		// these bounds hold whatever the machine's load.
		got := <-seenc
		require.LessOrEqual(t, got.left, c.max, "%s: the deadline is at most the budget", c.query)
		require.GreaterOrEqual(t, got.deadline.Sub(sentAt), c.max, "%s: the deadline is at least the budget", c.query)

		// ... and the next request is served normally.
		resp, err = postReview(l, MutatePath, review(t, admissionv1.Create, skeleton, nil, false))
		sent++
		require.NoError(t, err)
		require.True(t, resp.Allowed)
		require.NotEmpty(t, resp.Patch)
	}
	require.Contains(t, metricsText(t), `flyte_admission_request_timeouts_total{webhook="mutate"}`)
	t.Logf("request deadlines: %d requests, %d timed out as they should, 0 failed", sent, sent/2)
}

func metricsText(t testing.TB) string {
	t.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			fmt.Fprintf(&b, "%s{%s}\n", mf.GetName(), strings.Join(labels, ","))
		}
	}
	return b.String()
}

// staticCerts serves one certificate.
type staticCerts struct{ cert *tls.Certificate }

func (s staticCerts) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert, nil
}
func (staticCerts) Ready() error { return nil }

// rsaCert is a self-signed RSA serving certificate for 127.0.0.1 (the RSA
// key exchange and ECDHE_RSA suites need one).
func rsaCert(t testing.TB) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "flyte-admission rsa test"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestServerTLSPolicy: TLS 1.0 and 1.1, and TLS 1.2 suites without forward
// secrecy or with CBC or 3DES, are refused; TLS 1.2 ECDHE+AEAD and TLS 1.3
// are served; HTTP/2 is negotiated only when enabled. Each refused suite is
// first shown to be accepted by a server on Go's defaults configured to allow
// it, so that the refusal is the webhook's policy, not the client's.
func TestServerTLSPolicy(t *testing.T) {
	cert, pool := rsaCert(t)
	l := startLive(t, Options{Certs: staticCerts{cert}})
	control := controlTLSServer(t, cert)

	dial := func(addr string, c *tls.Config) (tls.ConnectionState, error) {
		c.RootCAs, c.ServerName = pool, "127.0.0.1"
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.ConnectionState(), nil
	}
	tried := 0
	refused := []struct {
		name string
		cfg  func() *tls.Config
	}{
		{"TLS 1.0", func() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10} }},
		{"TLS 1.1", func() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} }},
	}
	for _, suite := range []uint16{
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	} {
		refused = append(refused, struct {
			name string
			cfg  func() *tls.Config
		}{tls.CipherSuiteName(suite), func() *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}} //nolint:gosec // the point
		}})
	}
	for _, c := range refused {
		tried++
		_, err := dial(control, c.cfg())
		require.NoError(t, err, "control server accepts %s", c.name)
		_, err = dial(l.addr, c.cfg())
		require.Error(t, err, "%s must be refused", c.name)
	}
	for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256} {
		tried++
		st, err := dial(l.addr, &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		require.NoError(t, err, tls.CipherSuiteName(suite))
		require.Equal(t, suite, st.CipherSuite)
	}
	tried++
	st, err := dial(l.addr, &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{"h2", "http/1.1"}})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), st.Version)
	require.Equal(t, "http/1.1", st.NegotiatedProtocol, "no HTTP/2 unless enabled")

	// HTTP/2 when asked for.
	h2 := startLive(t, Options{Certs: staticCerts{cert}, EnableHTTP2: true})
	tried++
	st, err = dial(h2.addr, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	require.NoError(t, err)
	require.Equal(t, "h2", st.NegotiatedProtocol)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	resp, err := client.Post(h2.base+MutatePath, "application/json", bytes.NewReader(review(t, admissionv1.Create, skeleton, nil, false)))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "HTTP/2.0", resp.Proto)
	body, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(body), `"patch"`)
	t.Logf("TLS policy: %d handshakes tried, %d refused as they should (each accepted by the control server), %d served",
		tried, len(refused), tried-len(refused))
}

// controlTLSServer accepts anything Go can speak (TLS 1.0 up, every suite
// Go implements) and completes handshakes.
func controlTLSServer(t testing.TB, cert *tls.Certificate) string {
	t.Helper()
	var all []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		all = append(all, s.ID)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS10, CipherSuites: all, //nolint:gosec // the control
	})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestServerRecoversPanics: a handler that panics (here: for objects named
// "boom", on both webhooks, and a plain handler registered on the mux) is
// answered with an internal error, concurrently with normal requests that
// all succeed, and the server keeps serving.
func TestServerRecoversPanics(t *testing.T) {
	m, v := examplesHandlers(t)
	boom := func(h admission.Handler) admission.Handler {
		return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
			if req.Name == "boom" {
				var nilMap map[string]int
				nilMap["x"]++ // a real runtime panic
			}
			return h.Handle(ctx, req)
		})
	}
	l := startLive(t, Options{Mutator: boom(m), Validator: boom(v)})
	l.Webhook.WebhookMux().HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("outside the admission handlers") })

	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	bomb := deepCopy(t, skeleton)
	bomb["metadata"].(map[string]any)["name"] = "boom"
	good, bad := review(t, admissionv1.Create, skeleton, nil, false), review(t, admissionv1.Create, bomb, nil, false)

	var sent, failed, panicked atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				sent.Add(1)
				path := MutatePath
				if (w+i)%2 == 1 {
					path = ValidatePath
				}
				switch i % 5 {
				case 0:
					resp, err := postReview(l, path, bad)
					if err != nil || resp.Allowed || resp.Result.Code != http.StatusInternalServerError ||
						!strings.Contains(resp.Result.Message, "internal error in the") || resp.UID != "uid-boom" {
						failed.Add(1)
						t.Errorf("panic answer: %v %+v", err, resp)
						continue
					}
					panicked.Add(1)
				case 1:
					req, _ := http.NewRequest(http.MethodPost, l.base+"/panic", strings.NewReader("{}"))
					req.Header.Set("Content-Type", "application/json")
					resp, err := l.client.Do(req)
					if err != nil {
						failed.Add(1)
						t.Errorf("plain handler panic: %v", err)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "internal error") {
						failed.Add(1)
						t.Errorf("plain handler panic: %d %s", resp.StatusCode, body)
						continue
					}
					panicked.Add(1)
				default:
					resp, err := postReview(l, path, good)
					if err != nil || !resp.Allowed {
						failed.Add(1)
						t.Errorf("normal request: %v %+v", err, resp)
					}
				}
			}
		})
	}
	wg.Wait()
	resp, err := postReview(l, MutatePath, good)
	require.NoError(t, err)
	require.True(t, resp.Allowed)
	metrics := metricsText(t)
	for _, where := range []string{"mutate", "validate", "http"} {
		require.Contains(t, metrics, `flyte_admission_panics_total{where="`+where+`"}`)
	}
	t.Logf("panic recovery: %d requests, %d panicked and were answered 500, %d failed", sent.Load(), panicked.Load(), failed.Load())
	require.Zero(t, failed.Load())
}

// TestServerDrainsOnSIGTERM: SIGTERM under a load of concurrent requests
// (some of them slow) costs no request. The load follows /readyz as the
// endpoints would: probed every 50ms, new requests stop 200ms after it first
// fails (propagation), within the ShutdownDelay; everything sent is answered,
// including requests still in flight when the listener closes.
func TestServerDrainsOnSIGTERM(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	m, v := examplesHandlers(t)
	var slowCount, inFlightAtClose atomic.Int64
	var signalled atomic.Bool
	var addr atomic.Pointer[string]
	// listenerClosed waits (up to a minute) until the webhook port refuses
	// connections; false if it never does.
	listenerClosed := func() bool {
		for range 1200 {
			c, err := net.DialTimeout("tcp", *addr.Load(), time.Second)
			if err != nil {
				return true
			}
			_ = c.Close()
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	slow := admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		switch n := slowCount.Add(1); {
		case signalled.Load():
			// Sent after SIGTERM: still running when the listener closes.
			if listenerClosed() {
				inFlightAtClose.Add(1)
			}
		case n%4 == 0:
			time.Sleep(time.Duration(n%5) * 100 * time.Millisecond) // up to 0.4s, under the deadline
		}
		return m.Handle(ctx, req)
	})
	// Longer than probe period + propagation, with room for a loaded machine.
	const delay = 1500 * time.Millisecond
	l := startLiveCtx(t, ctx, Options{Mutator: slow, Validator: v, ProbeAddr: "127.0.0.1:0", ShutdownDelay: delay})
	addr.Store(&l.addr)
	probe := "http://" + l.ProbeAddr() + "/readyz"

	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	bodies := map[string][]byte{
		MutatePath:   review(t, admissionv1.Create, skeleton, nil, false),
		ValidatePath: review(t, admissionv1.Create, mustExpand(t, loadConfig(t, "../examples/config/plugins.yaml"), skeleton), nil, false),
	}
	var notReady atomic.Bool
	var notReadyAt atomic.Pointer[time.Time]
	go func() { // the kubelet's probe and the endpoints controller
		for {
			if c, _ := get(t, probe); c != http.StatusOK {
				now := time.Now()
				notReadyAt.Store(&now)
				time.Sleep(200 * time.Millisecond)
				notReady.Store(true)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var sent, failed, afterSignal atomic.Int64
	var wg sync.WaitGroup
	var errsMu sync.Mutex
	var errs []string
	for w := range 16 {
		wg.Go(func() {
			for i := 0; !notReady.Load(); i++ {
				path := MutatePath
				if (w+i)%3 == 0 {
					path = ValidatePath
				}
				sent.Add(1)
				afterSig, draining := signalled.Load(), l.https.draining.Load()
				resp, closed, err := postReviewHTTP(l, path, bodies[path])
				if afterSig {
					afterSignal.Add(1)
				}
				// Sent once the server was draining: the answer closes its
				// connection.
				if draining && err == nil && !closed {
					err = errors.New("an answer during the drain keeps its connection open")
				}
				if err == nil && !resp.Allowed {
					err = fmt.Errorf("refused: %v", resp.Result)
				}
				if err != nil {
					failed.Add(1)
					errsMu.Lock()
					errs = append(errs, err.Error())
					errsMu.Unlock()
				}
			}
		})
	}
	time.Sleep(time.Second)
	signalled.Store(true)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	wg.Wait()
	l.client.CloseIdleConnections()
	select {
	case err := <-l.done:
		require.NoError(t, err)
		close(l.done)
	case <-time.After(70 * time.Second):
		t.Fatal("Start did not return after SIGTERM")
	}
	require.NotNil(t, notReadyAt.Load(), "/readyz never failed")
	t.Logf("shutdown under load: %d requests, %d sent after SIGTERM, %d in flight when the listener closed, %d failed",
		sent.Load(), afterSignal.Load(), inFlightAtClose.Load(), failed.Load())
	require.Zero(t, failed.Load(), "%v", errs)
	require.Positive(t, afterSignal.Load(), "the load went on during the shutdown delay")
	require.Positive(t, inFlightAtClose.Load(), "some requests were in flight when the listener closed")
}

// TestServerLogsNoSecrets: at the default level, handling objects that carry
// secret-looking values (annotations, env, sparkConf) — admitted, denied,
// warned, audited, panicking, undecodable — logs neither the values nor the
// objects.
func TestServerLogsNoSecrets(t *testing.T) {
	const secret = "hunter2-s3cr3t-TOKEN"
	var buf syncbuf.Buffer
	log := zap.New(zap.WriteTo(&buf)) // production encoder, info level: the default
	m, v := examplesHandlers(t)
	panicky := admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		if req.Name == "boom" {
			panic("handler bug")
		}
		return m.Handle(ctx, req)
	})
	l := startLive(t, Options{Mutator: panicky, Validator: v, Log: log, RequestTimeout: 2 * time.Second})

	secretive := skel("sparkoperator.k8s.io/v1beta2", "SparkApplication", map[string]any{
		"example.com/db-password": secret,
		"flyte.org/task-template": "type: spark\ncontainer: {image: quay.io/evil/spark:1, args: [pyflyte-execute], " +
			"env: [{key: DB_PASSWORD, value: " + secret + "}]}\ncustom: {mainApplicationFile: local:///x.py, " +
			"applicationType: PYTHON, sparkConf: {spark.hadoop.fs.s3a.secret.key: " + secret + "}}",
	})
	expanded := mustExpand(t, loadConfig(t, "../examples/config/plugins.yaml"), secretive)
	require.Contains(t, string(mustJSON(t, expanded)), secret, "the secret is in the stored object")
	denied := deepCopy(t, secretive)
	denyAnn := denied["metadata"].(map[string]any)["annotations"].(map[string]any)
	denyAnn["flyte.org/execution"] = `{"bogus": "` + secret + `"}`
	boom := deepCopy(t, secretive)
	boom["metadata"].(map[string]any)["name"] = "boom"

	requests := []struct {
		path string
		body []byte
	}{
		{MutatePath, review(t, admissionv1.Create, secretive, nil, false)},            // patched
		{MutatePath, review(t, admissionv1.Create, denied, nil, false)},               // denied
		{MutatePath, review(t, admissionv1.Create, boom, nil, false)},                 // panics
		{ValidatePath, review(t, admissionv1.Create, expanded, nil, false)},           // warned + audited
		{ValidatePath, review(t, admissionv1.Update, expanded, secretive, false)},     // update
		{MutatePath, []byte(`{"kind":"AdmissionReview","request":{"uid":"` + secret)}, // undecodable
		{ValidatePath, []byte(`{"apiVersion":"v1","kind":"Secret","data":"` + secret + `"}`)},
	}
	for _, r := range requests {
		resp, err := l.client.Post(l.base+r.path, "application/json", bytes.NewReader(r.body))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 500)
	}
	// A plain-text body of the wrong type, and TLS noise.
	resp, err := l.client.Post(l.base+MutatePath, "text/plain", strings.NewReader(secret))
	require.NoError(t, err)
	resp.Body.Close()
	conn, err := net.Dial("tcp", l.addr)
	require.NoError(t, err)
	_, _ = conn.Write([]byte(secret + "\r\n\r\n"))
	conn.Close()
	l.stop(t)

	out := buf.String()
	lines := strings.Count(out, "\n")
	require.Contains(t, out, "recovered a panic handling an admission request", "the logger is captured")
	require.NotContains(t, out, secret)
	for _, piece := range []string{"quay.io/evil", "mainApplicationFile", "pyflyte-execute", `"spec"`} {
		require.NotContains(t, out, piece, "no object content in the log")
	}
	t.Logf("log hygiene: %d requests, %d log lines at the default level, 0 containing the secret or the object", len(requests)+2, lines)
}

// TestServerLimitsRequestsInFlight: with MaxInFlight requests being handled,
// one more is answered 429 at once (never queued), and is served again once
// one of them is done.
func TestServerLimitsRequestsInFlight(t *testing.T) {
	m, v := examplesHandlers(t)
	entered, release := make(chan struct{}, 8), make(chan struct{})
	blocking := func(h admission.Handler) admission.Handler {
		return admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
			if req.Name == "hold" {
				entered <- struct{}{}
				<-release
			}
			return h.Handle(ctx, req)
		})
	}
	l := startLive(t, Options{Mutator: blocking(m), Validator: blocking(v), MaxInFlight: 2})
	skeleton := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	hold := deepCopy(t, skeleton)
	hold["metadata"].(map[string]any)["name"] = "hold"
	good, held := review(t, admissionv1.Create, skeleton, nil, false), review(t, admissionv1.Create, hold, nil, false)

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := postReview(l, MutatePath, held)
			if err != nil || !resp.Allowed {
				t.Errorf("held request: %v %+v", err, resp)
			}
		})
	}
	<-entered
	<-entered // both are in the handler now

	req, err := http.NewRequest(http.MethodPost, l.base+MutatePath, bytes.NewReader(good))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(body))
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Contains(t, string(body), "more than 2 admission requests in flight")
	require.Contains(t, metricsText(t), "flyte_admission_requests_rejected_total")

	close(release)
	wg.Wait()
	r, err := postReview(l, MutatePath, good)
	require.NoError(t, err)
	require.True(t, r.Allowed, "served again below the limit")
}
