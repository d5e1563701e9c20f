package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Limits and timeouts of the webhook's HTTPS server (the defaults of the
// Options fields of the same names).
const (
	// MaxRequestBytes is the largest request body accepted: controller-
	// runtime's cap (two objects of at most 3 MiB and the rest of the review).
	MaxRequestBytes = 7 << 20
	// MaxHeaderBytes bounds the request line and headers (the apiserver sends
	// a few hundred bytes).
	MaxHeaderBytes = 64 << 10

	// DefaultRequestTimeout bounds the handling of one admission request: below
	// the webhooks' timeoutSeconds (DefaultTimeoutSeconds), so that the
	// apiserver gets our answer rather than a timeout of its own.
	DefaultRequestTimeout = 4 * time.Second
	// DefaultMaxInFlight is how many admission requests are handled at once
	// before more are answered 429 (kube-apiserver's own default).
	DefaultMaxInFlight = 400
	// DefaultReadHeaderTimeout cuts off clients that send their headers slowly
	// (slowloris); it also bounds the TLS handshake.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to the
	// end of the response (reading the body, handling, writing).
	DefaultWriteTimeout = 15 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for its
	// next request: longer than the apiserver's client keeps idle connections
	// (90 s), so that the client, not the server, closes them (a server closing
	// an idle connection as the client reuses it fails that POST).
	DefaultIdleTimeout = 120 * time.Second
)

// modernCiphers are the TLS 1.2 suites the server accepts: ECDHE key exchange
// with an AEAD (TLS 1.3's suites are not configurable and all qualify).
var modernCiphers = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// httpsServer is the webhook's TLS listener and http.Server. It implements
// controller-runtime's webhook.Server; hooks are registered through
// controller-runtime's (never started) DefaultServer so that they keep its
// controller_runtime_webhook_* metrics, but the http.Server is ours: its
// timeouts, header limit, request guard (method, size, content type,
// deadline, panic recovery), a request context that shutdown does not cancel
// (in-flight requests are drained, not aborted) and connections closed after
// each answer while draining.
type httpsServer struct {
	opts Options
	tls  func(*tls.Config)
	cr   ctrlwebhook.Server
	mux  *http.ServeMux
	log  logr.Logger

	mu       sync.Mutex
	started  bool
	addr     atomic.Pointer[string]
	draining atomic.Bool
	// work is the budget of the requests in flight (set by guard).
	work *budget
	srv  atomic.Pointer[http.Server] // once started
}

var _ ctrlwebhook.Server = (*httpsServer)(nil)

func newHTTPSServer(opts Options, tlsOpts func(*tls.Config)) *httpsServer {
	mux := http.NewServeMux()
	return &httpsServer{
		opts: opts,
		tls:  tlsOpts,
		cr:   ctrlwebhook.NewServer(ctrlwebhook.Options{WebhookMux: mux}),
		mux:  mux,
		log:  opts.Log.WithName("https"),
	}
}

// NeedLeaderElection implements webhook.Server: every replica serves.
func (*httpsServer) NeedLeaderElection() bool { return false }

// Register implements webhook.Server.
func (h *httpsServer) Register(path string, hook http.Handler) { h.cr.Register(path, hook) }

// WebhookMux implements webhook.Server.
func (h *httpsServer) WebhookMux() *http.ServeMux { return h.mux }

// Addr is the bound address once Start has opened the listener.
func (h *httpsServer) Addr() string { return load(&h.addr) }

// StartedChecker implements webhook.Server: healthy once the listener is
// open and completes a TLS handshake.
func (h *httpsServer) StartedChecker() healthz.Checker {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // a reachability check
	return func(*http.Request) error {
		h.mu.Lock()
		started := h.started
		h.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", h.Addr(), cfg)
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}

// drain makes every response from now on close its connection, so that
// clients stop reusing connections to a server about to close its listener.
// (Not SetKeepAlivesEnabled(false): it also closes the idle connections at
// once, and a client sending a POST on one as it closes gets an error.)
func (h *httpsServer) drain() { h.draining.Store(true) }

// Start implements webhook.Server: it serves until ctx ends, then stops
// accepting and waits (up to a minute) for the requests in flight.
func (h *httpsServer) Start(ctx context.Context) error {
	cfg := &tls.Config{}
	h.tls(cfg)
	ln, err := net.Listen("tcp", net.JoinHostPort(h.opts.Host, strconv.Itoa(h.opts.Port)))
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	h.addr.Store(&addr)
	srv := &http.Server{
		Handler:           h.guard(h.mux),
		ReadHeaderTimeout: or(h.opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(h.opts.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      or(h.opts.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       or(h.opts.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    MaxHeaderBytes,
		// Requests are not cancelled by shutdown: they are drained.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    log.New(logWriter{h.log.V(1)}, "", 0),
	}
	if !h.opts.EnableHTTP2 {
		var p http.Protocols
		p.SetHTTP1(true)
		srv.Protocols = &p
	}
	h.srv.Store(srv)
	h.mu.Lock()
	h.started = true
	h.mu.Unlock()
	h.log.Info("serving webhooks", "address", addr)

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			h.log.Error(err, "shutting down the webhook server: requests still in flight were cut off")
		}
	}()
	if err := srv.Serve(tls.NewListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}

func or[T time.Duration | int64](d, def T) T {
	if d > 0 {
		return d
	}
	return def
}

// logWriter sends the http.Server's own messages (TLS handshake errors,
// client disconnects) to a logger.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// guard is the HTTP-level hygiene in front of the admission handlers: POST
// only (405), a body within MaxRequestBytes (413 before reading it when its
// length is declared; controller-runtime's reader refuses longer chunked
// bodies), "application/json" with parameters accepted as application/json,
// the request's deadline (RequestTimeout, lowered by the apiserver's own
// ?timeout=), and a recovered panic answered with a 500 (the server keeps
// serving; the admission handlers have their own recovery, see guarded).
func (h *httpsServer) guard(next http.Handler) http.Handler {
	limit := or(h.opts.RequestTimeout, DefaultRequestTimeout)
	maxInFlight := h.opts.MaxInFlight
	if maxInFlight == 0 {
		maxInFlight = DefaultMaxInFlight
	}
	work := newBudget(or(h.opts.MemoryBudget, DefaultMemoryBudget), maxInFlight)
	h.work = work
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &watchWriter{ResponseWriter: w}
		if h.draining.Load() {
			rw.Header().Set("Connection", "close")
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
					panic(v)
				}
				panicsTotal.WithLabelValues("http").Inc()
				h.log.Error(fmt.Errorf("panic: %v", v), "recovered a panic serving a request", "path", r.URL.Path, "stack", string(debug.Stack()))
				if !rw.wrote {
					http.Error(rw, "internal error (recovered; see the webhook's log)", http.StatusInternalServerError)
				}
			}
		}()
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", http.MethodPost)
			http.Error(rw, fmt.Sprintf("method %s not allowed: admission reviews are POSTed", r.Method), http.StatusMethodNotAllowed)
			return
		}
		if r.ContentLength > MaxRequestBytes {
			rw.Header().Set("Connection", "close")
			http.Error(rw, fmt.Sprintf("request body is %d bytes, more than the %d allowed", r.ContentLength, MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
				r.Header.Set("Content-Type", "application/json")
			}
		}
		d := limit
		if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 {
			// The apiserver's remaining budget (rounded up to a second): answer
			// with a margin.
			if t > 2*time.Second {
				t -= time.Second
			} else {
				t /= 2
			}
			d = min(d, t)
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		// Charge the review before reading its body, waiting for memory
		// while its deadline allows; beyond the count limit, or with no
		// memory in time, answer 429 rather than queue: a 429 is a failed
		// webhook call to the apiserver, handled by the failure policy.
		ticket, err := work.admit(ctx, r.ContentLength)
		if err != nil {
			rejectedTotal.Inc()
			rw.Header().Set("Retry-After", "1")
			msg := fmt.Sprintf("more than %d admission requests in flight: retry", maxInFlight)
			if errors.Is(err, errNoMemory) {
				msg = "the admission requests in flight hold all of the webhook's memory budget: retry"
			}
			http.Error(rw, msg, http.StatusTooManyRequests)
			return
		}
		defer ticket.done()
		// The body must arrive within the deadline too: a slow upload holds
		// its charge no longer than a review may take.
		if dl, ok := ctx.Deadline(); ok {
			_ = http.NewResponseController(w).SetReadDeadline(dl)
		}
		next.ServeHTTP(rw, r.WithContext(withTicket(ctx, ticket)))
	})
}

// watchWriter records whether a response has been started.
type watchWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *watchWriter) WriteHeader(code int) { w.wrote = true; w.ResponseWriter.WriteHeader(code) }
func (w *watchWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}
func (w *watchWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// guarded wraps an admission handler: a request without a uid is refused (the
// apiserver matches answers by uid), the handler runs under the request's
// deadline and is answered for when it passes (a denial with a Timeout status,
// before the apiserver's own timeout), and a panic is recovered into a 500
// answer (the server keeps serving) with the stack in the log.
type guarded struct {
	name    string
	handler admission.Handler
	log     logr.Logger
}

func (g *guarded) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.UID == "" {
		return admission.Errored(http.StatusBadRequest, errors.New("the AdmissionReview has no request.uid"))
	}
	start := time.Now()
	done := make(chan admission.Response, 1)
	// The work holds the review's charge until it ends, answered or not.
	ticket := ticketOf(ctx)
	if ticket != nil {
		ticket.hold()
	}
	go func() {
		if ticket != nil {
			defer ticket.done()
		}
		defer func() {
			if v := recover(); v != nil {
				panicsTotal.WithLabelValues(g.name).Inc()
				observe(g.name, req.Kind.Kind, string(req.Operation), ResultError, start)
				// Identity only: never the object.
				g.log.Error(fmt.Errorf("panic: %v", v), "recovered a panic handling an admission request",
					"kind", cut(req.Kind.Kind, maxIdentityBytes), "namespace", cut(req.Namespace, maxIdentityBytes),
					"name", cut(req.Name, maxIdentityBytes), "uid", cut(string(req.UID), maxIdentityBytes),
					"operation", req.Operation, "stack", string(debug.Stack()))
				done <- admission.Errored(http.StatusInternalServerError,
					fmt.Errorf("internal error in the %s webhook (recovered; see its log for uid %s)", g.name, req.UID))
			}
		}()
		done <- g.handler.Handle(ctx, req)
	}()
	select {
	case resp := <-done:
		return resp
	case <-ctx.Done():
		timeoutsTotal.WithLabelValues(g.name).Inc()
		reason := "the request's deadline passed"
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			reason = "the request took longer than the webhook's deadline"
		} else if err := ctx.Err(); err != nil && errors.Is(err, context.Canceled) {
			reason = "the request was cancelled"
		}
		g.log.Info("admission request not answered in time", "kind", cut(req.Kind.Kind, maxIdentityBytes),
			"namespace", cut(req.Namespace, maxIdentityBytes), "name", cut(req.Name, maxIdentityBytes),
			"uid", cut(string(req.UID), maxIdentityBytes), "reason", reason)
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
			Allowed: false,
			Result: &metav1.Status{
				Status: metav1.StatusFailure, Code: http.StatusGatewayTimeout, Reason: metav1.StatusReasonTimeout,
				Message: fmt.Sprintf("flyte-admission %s webhook: %s; not admitted", g.name, reason),
			},
		}}
	}
}

func writeRefusal(w http.ResponseWriter, code int, err error) {
	resp := admission.Errored(int32(code), err) //nolint:gosec // an HTTP status
	writeReview(w, admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"), &resp.AdmissionResponse)
}
