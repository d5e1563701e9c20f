package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Options configure a Server. The zero value of each field is its default.
type Options struct {
	// Host and Port the webhook listens on (default all addresses; Port 0
	// is any free port: WebhookAddr says which once Start has bound it).
	Host string
	Port int
	// CertDir holds CertName and KeyName (default tls.crt, tls.key); used
	// when Certs is nil.
	CertDir, CertName, KeyName string
	// Certs supplies the serving certificate; nil watches CertDir's files.
	// If it implements Starter, Start runs it.
	Certs CertSource
	// EnableHTTP2 turns HTTP/2 on (off by default: CVE-2023-44487 / -39325).
	EnableHTTP2 bool
	// ClientCAs, when set, makes the TLS handshake require a client
	// certificate signed by one of these CAs (the apiserver presents one
	// through its AdmissionConfiguration kubeconfig); it is called at each
	// handshake (see NewClientCAFile for a bundle reloaded from a file).
	ClientCAs func() *x509.CertPool

	// RequestTimeout bounds the handling of one admission request (default
	// DefaultRequestTimeout, 4s: below the webhooks' timeoutSeconds; a
	// request's ?timeout= from the apiserver lowers it). A request still
	// being handled then is refused with a Timeout status.
	RequestTimeout time.Duration
	// MaxInFlight is how many requests are handled at once (default
	// DefaultMaxInFlight, 400, as kube-apiserver's --max-requests-inflight;
	// negative: no limit). More are answered 429 at once, keeping memory
	// bounded under overload.
	MaxInFlight int
	// MemoryBudget bounds the memory of the requests being handled, in bytes
	// (default DefaultMemoryBudget): each is charged what a review of its
	// size may cost before its body is read, each expansion what an
	// expansion may cost, and a request finding no memory within its
	// deadline is answered 429.
	MemoryBudget int64
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout of the
	// HTTPS server (defaults DefaultReadHeaderTimeout, ... : 5s, 10s, 15s,
	// 120s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// ProbeAddr serves /healthz and /readyz over plain HTTP, MetricsAddr
	// /metrics; "" or "0" disables one; port 0 is any free port (see
	// ProbeAddr and MetricsAddr methods); the same address serves both from
	// one listener (port 0 included).
	ProbeAddr, MetricsAddr string

	// Mutator and Validator are served at MutatePath and ValidatePath.
	Mutator, Validator admission.Handler

	// ReadyChecks are added to /readyz (certificate and webhook listener are
	// always checked).
	ReadyChecks []Check
	// Starters run with the server (file reloaders, caches, ...).
	Starters []Starter
	// ShutdownDelay is how long /readyz fails before the listeners close on
	// shutdown, so that endpoints stop sending requests first; in-flight
	// requests are then drained (up to a minute).
	ShutdownDelay time.Duration
	Log           logr.Logger
}

// Check is one /readyz entry.
type Check struct {
	Name  string
	Check func() error
	// Informational entries are shown by /readyz but do not fail it (a
	// config reload that failed while the previous config keeps serving).
	Informational bool
}

// Server is the admission webhook server (controller-runtime's, over TLS)
// with its probe and metrics listeners. It is a manager.Runnable: run it with
// Start, or add it to a controller-runtime manager.
type Server struct {
	// Webhook is the TLS server with both handlers registered.
	Webhook ctrlwebhook.Server
	https   *httpsServer

	opts     Options
	certs    CertSource
	checks   []Check
	draining atomic.Bool
	probe    atomic.Pointer[string]
	metrics  atomic.Pointer[string]
}

// NewServer configures the server: TLS 1.2 minimum with ECDHE+AEAD suites
// only, HTTP/2 off unless enabled, certificates from opts.Certs or the cert
// directory, the mutating and validating handlers registered behind the
// request guard (see httpsServer and guarded: body, header and time limits,
// a per-request deadline, panic recovery).
func NewServer(opts Options) (*Server, error) {
	if opts.Mutator == nil || opts.Validator == nil {
		return nil, errors.New("webhook server: both a Mutator and a Validator are required")
	}
	if opts.CertName == "" {
		opts.CertName = "tls.crt"
	}
	if opts.KeyName == "" {
		opts.KeyName = "tls.key"
	}
	s := &Server{opts: opts, certs: opts.Certs}
	if s.certs == nil {
		if opts.CertDir == "" {
			return nil, errors.New("webhook server: a cert directory (or a certificate source) is required")
		}
		dc := NewDirCerts(filepath.Join(opts.CertDir, opts.CertName), filepath.Join(opts.CertDir, opts.KeyName))
		dc.Log = opts.Log.WithName("certs")
		s.certs = dc
	}
	s.https = newHTTPSServer(opts, s.tlsConfig)
	s.Webhook = s.https
	for _, h := range []struct {
		path, name string
		handler    admission.Handler
	}{{MutatePath, mutateName, opts.Mutator}, {ValidatePath, validateName, opts.Validator}} {
		hook, err := admissionHandler(h.name, h.handler, opts.Log.WithName(h.name))
		if err != nil {
			return nil, err
		}
		s.Webhook.Register(h.path, hook)
	}
	started := s.Webhook.StartedChecker()
	s.checks = append([]Check{
		{Name: "shutdown", Check: s.notDraining},
		{Name: "certificate", Check: s.certs.Ready},
		{Name: "webhook", Check: func() error { return started(nil) }},
	}, opts.ReadyChecks...)
	return s, nil
}

// admissionHandler serves one admission handler over HTTP the way the server
// does (behind the HTTP guard, which adds limits and the deadline): the body
// read, decoded once as an AdmissionReview (see decodeReview), the handler
// guarded (uid required, deadline, panic recovery) with its logger in the
// context, and the answer written as an AdmissionReview of the request's
// version. It replaces controller-runtime's admission.Webhook HTTP layer,
// whose decoding took more CPU than the handlers under load (four passes over
// a body holding one or two whole objects).
func admissionHandler(name string, h admission.Handler, log logr.Logger) (http.Handler, error) {
	g := &guarded{name: name, handler: h, log: log}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			writeRefusal(w, http.StatusBadRequest, errors.New("request body is empty"))
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			writeRefusal(w, http.StatusBadRequest, fmt.Errorf("contentType=%s, expected application/json", ct))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
		if err != nil {
			writeRefusal(w, http.StatusBadRequest, fmt.Errorf("read the request body: %w", err))
			return
		}
		if len(body) > MaxRequestBytes {
			w.Header().Set("Connection", "close")
			writeRefusal(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is more than the %d bytes allowed", MaxRequestBytes))
			return
		}
		if len(body) == 0 {
			writeRefusal(w, http.StatusBadRequest, errors.New("request body is empty"))
			return
		}
		req, gvk, err := decodeReview(body)
		if err != nil {
			writeRefusal(w, http.StatusBadRequest, err)
			return
		}
		ctx := logr.NewContext(r.Context(), requestLogger(log, &req))
		resp := g.Handle(ctx, req)
		if err := resp.Complete(req); err != nil {
			log.Error(err, "encode the admission response", "uid", req.UID)
			resp = admission.Errored(http.StatusInternalServerError, errors.New("unable to encode the response"))
			resp.UID = req.UID
		}
		writeReview(w, gvk, &resp.AdmissionResponse)
		// Written: the patch's buffer serves the next expansion. The handlers
		// served here hand their patch over with the response and keep none.
		expand.RecyclePatch(resp.Patch)
	}), nil
}

// TLSDefaults sets the server's TLS floor on c: TLS 1.2 or later, AEAD
// cipher suites with forward secrecy only, HTTP/1.1 only.
func TLSDefaults(c *tls.Config) {
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = modernCiphers
	c.NextProtos = []string{"http/1.1"}
}

func (s *Server) tlsConfig(c *tls.Config) {
	TLSDefaults(c)
	if s.opts.EnableHTTP2 {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	c.GetCertificate = s.certs.GetCertificate
	if s.opts.ClientCAs != nil {
		requireClientCerts(c, s.opts.ClientCAs)
	}
}

// requestLogger adds the request's identity to the logger only when V(1)
// logging is on: no per-request work otherwise.
func requestLogger(base logr.Logger, req *admission.Request) logr.Logger {
	if req == nil || !base.V(1).Enabled() {
		return base
	}
	return admission.DefaultLogConstructor(base, req)
}

func (s *Server) notDraining() error {
	if s.draining.Load() {
		return errors.New("shutting down")
	}
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// WebhookAddr returns the address the webhook's TLS listener is bound to
// (host:port; the port chosen when Options.Port is 0) once Start has opened
// it, "" before.
func (s *Server) WebhookAddr() string { return s.https.Addr() }

// ProbeAddr and MetricsAddr return the bound listener addresses once Start
// has opened them ("" before, or when disabled).
func (s *Server) ProbeAddr() string { return load(&s.probe) }

// MetricsAddr: see ProbeAddr.
func (s *Server) MetricsAddr() string { return load(&s.metrics) }

func load(p *atomic.Pointer[string]) string {
	if v := p.Load(); v != nil {
		return *v
	}
	return ""
}

// Ready runs the /readyz checks.
func (s *Server) Ready() error {
	for _, c := range s.checks {
		if err := c.Check(); err != nil && !c.Informational {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return nil
}

// Handler serves /healthz, /readyz and /metrics (what the probe and metrics
// listeners serve).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.probeRoutes(mux)
	s.metricsRoutes(mux)
	return mux
}

func (s *Server) probeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", s.readyz)
}

func (s *Server) metricsRoutes(mux *http.ServeMux) {
	mux.Handle("/metrics", promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
}

// readyz lists every check ([+] ok, [-] failing, [!] informational) and
// answers 500 if a non-informational one fails.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	failed := false
	for _, c := range s.checks {
		switch err := c.Check(); {
		case err == nil:
			fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
		case c.Informational:
			fmt.Fprintf(&b, "[!]%s: %v\n", c.Name, err)
		default:
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.Name, err)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		b.WriteString("readyz check failed\n")
	} else {
		b.WriteString("readyz check passed\n")
	}
	_, _ = w.Write([]byte(b.String()))
}

// Start runs the webhook server, the probe and metrics listeners, the
// certificate source (if it is a Starter) and opts.Starters until ctx ends,
// then shuts down gracefully: /readyz fails, ShutdownDelay passes, the
// listeners close and in-flight requests finish. It returns the first error
// of any part.
func (s *Server) Start(ctx context.Context) error {
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	log := s.opts.Log

	type listener struct {
		addr  string
		mux   *http.ServeMux
		bound []*atomic.Pointer[string]
	}
	var listeners []*listener
	if enabled(s.opts.ProbeAddr) {
		l := &listener{addr: s.opts.ProbeAddr, mux: http.NewServeMux(), bound: []*atomic.Pointer[string]{&s.probe}}
		s.probeRoutes(l.mux)
		listeners = append(listeners, l)
	}
	if enabled(s.opts.MetricsAddr) {
		if len(listeners) > 0 && s.opts.MetricsAddr == s.opts.ProbeAddr {
			s.metricsRoutes(listeners[0].mux)
			listeners[0].bound = append(listeners[0].bound, &s.metrics)
		} else {
			l := &listener{addr: s.opts.MetricsAddr, mux: http.NewServeMux(), bound: []*atomic.Pointer[string]{&s.metrics}}
			s.metricsRoutes(l.mux)
			listeners = append(listeners, l)
		}
	}

	errc := make(chan error, len(listeners)+len(s.opts.Starters)+2)
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(inner); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("listen %s: %w", l.addr, err)
		}
		addr := ln.Addr().String()
		for _, b := range l.bound {
			b.Store(&addr)
		}
		srv := &http.Server{Handler: l.mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
		run("serve "+addr, func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
				defer c()
				_ = srv.Shutdown(sctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		log.Info("serving probes/metrics", "address", addr)
	}
	if st, ok := s.certs.(Starter); ok {
		run("certificates", st.Start)
	}
	for i, st := range s.opts.Starters {
		run(fmt.Sprintf("starter %d (%T)", i, st), st.Start)
	}
	run("webhook server", s.Webhook.Start)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.draining.Store(true)
	// From now on every answer closes its connection: clients reconnect
	// (to another replica once the endpoints follow /readyz) instead of
	// reusing a connection the listener's close would race with.
	s.https.drain()
	if err == nil && s.opts.ShutdownDelay > 0 {
		log.Info("shutting down: not ready, waiting before closing the listeners", "delay", s.opts.ShutdownDelay)
		select {
		case <-time.After(s.opts.ShutdownDelay):
		case err = <-errc:
		}
	}
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-errc:
		return err
	default:
	}
	log.Info("webhook server stopped")
	return nil
}

func enabled(addr string) bool { return addr != "" && addr != "0" }
