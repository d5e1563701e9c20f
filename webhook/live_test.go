package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/stretchr/testify/require"
)

// liveServer is the real webhook server (NewServer, Start) on 127.0.0.1 over
// TLS with a self-signed certificate made for the test.
type liveServer struct {
	*Server
	addr   string // 127.0.0.1:port
	base   string // https://127.0.0.1:port
	pool   *x509.CertPool
	client *http.Client
	cancel context.CancelFunc
	done   chan error
}

// examplesHandlers are the mutator and validator with examples/config's
// plugin configuration and policies.
func examplesHandlers(t testing.TB) (*Mutator, *Validator) {
	t.Helper()
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	pols, err := policy.Load("../examples/config/policies.yaml")
	require.NoError(t, err)
	return &Mutator{Registry: registry, Config: func() *config.Config { return cfg }, Now: fixedNow},
		&Validator{Registry: registry, Config: func() *config.Config { return cfg }, Policies: func() *policy.Set { return pols }}
}

// startLive starts the server with opts (Host, Port and certificates are the
// test's; nil handlers are examplesHandlers) and waits until it is ready. The
// server is stopped when the test ends unless stopped before.
func startLive(t testing.TB, opts Options) *liveServer {
	t.Helper()
	return startLiveCtx(t, context.Background(), opts)
}

// startLiveCtx is startLive whose server also stops when parent ends.
func startLiveCtx(t testing.TB, parent context.Context, opts Options) *liveServer {
	t.Helper()
	dir := t.TempDir()
	caPEM := selfSigned(t, dir, 1)
	opts.Host, opts.Port, opts.CertDir = "127.0.0.1", 0, dir // port 0: any free port
	if opts.Mutator == nil || opts.Validator == nil {
		m, v := examplesHandlers(t)
		if opts.Mutator == nil {
			opts.Mutator = m
		}
		if opts.Validator == nil {
			opts.Validator = v
		}
	}
	srv, err := NewServer(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(parent)
	l := &liveServer{Server: srv, cancel: cancel, done: make(chan error, 1)}
	l.pool = x509.NewCertPool()
	require.True(t, l.pool.AppendCertsFromPEM(caPEM))
	l.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: l.pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
	}}
	go func() { l.done <- srv.Start(ctx) }()
	eventually(t, "webhook server ready", func() bool { return srv.Ready() == nil })
	l.addr = srv.WebhookAddr() // bound: Ready dials it
	l.base = "https://" + l.addr
	t.Cleanup(func() { l.stop(t) })
	return l
}

// stop cancels Start and waits for it to return (once).
func (l *liveServer) stop(t testing.TB) {
	t.Helper()
	// Connections the client dialed but never used count as busy for 5s
	// in http.Server.Shutdown.
	l.client.CloseIdleConnections()
	l.cancel()
	select {
	case err, ok := <-l.done:
		if ok {
			require.NoError(t, err)
			close(l.done)
		}
	case <-time.After(70 * time.Second):
		t.Fatal("Start did not return after shutdown")
	}
}

func (l *liveServer) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: l.pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
}
