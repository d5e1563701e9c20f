package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Defaults.
const (
	DefaultServingValidity = 365 * 24 * time.Hour
	DefaultCAValidity      = 10 * 365 * 24 * time.Hour
	DefaultCAOverlap       = time.Hour
	DefaultResyncInterval  = time.Minute
	DefaultClusterDomain   = "cluster.local"

	// missingRetry is how soon Start retries when a webhook configuration
	// does not exist yet (capped by ResyncInterval).
	missingRetry = 5 * time.Second
	// minWait is the shortest sleep of Start between two passes.
	minWait = time.Second
	// storeAttempts bounds the read-modify-write retries of one Ensure.
	storeAttempts = 10
)

// Options configure a Manager.
type Options struct {
	// SecretName/SecretNamespace name the Secret (type kubernetes.io/tls,
	// with ca.crt) that all replicas share. Empty SecretName: local mode,
	// the store is the directory Dir. SecretNamespace defaults to
	// ServiceNamespace.
	SecretName, SecretNamespace string
	// Dir is the local-mode store (CA key included). Defaults to
	// CertDir/store; must differ from CertDir.
	Dir string

	// ServiceName/ServiceNamespace give the serving certificate's SANs:
	// svc, svc.ns, svc.ns.svc, svc.ns.svc.<ClusterDomain>. ServiceName may be
	// empty in local mode if ExtraDNSNames or ExtraIPs are set.
	ServiceName, ServiceNamespace string
	ClusterDomain                 string // default cluster.local
	ExtraDNSNames                 []string
	ExtraIPs                      []net.IP // e.g. 127.0.0.1 for local runs

	// CertDir receives tls.crt, tls.key and ca.crt for the webhook server
	// (controller-runtime's webhook.Options.CertDir; certwatcher reloads).
	CertDir string

	// Names of the webhook configurations whose every webhook gets caBundle.
	// Empty: not patched.
	MutatingWebhookName, ValidatingWebhookName string

	// ServingValidity (default 1 year) and CAValidity (default 10 years) are
	// certificate lifetimes. Certificates are renewed at 2/3 of their
	// lifetime or, for serving certificates, when less than RenewBefore
	// (default 0: unused) remains, whichever is first.
	ServingValidity, CAValidity, RenewBefore time.Duration
	// CAOverlap is how long a new CA is in the bundle before it signs
	// (default: 1h, at most a tenth of CAValidity).
	CAOverlap time.Duration
	// ResyncInterval is the longest sleep of Start between two passes
	// (default 1m): it re-reads the Secret and re-patches caBundle.
	ResyncInterval time.Duration

	// Client is used for the Secret and the webhook configurations; nil in
	// local mode (then no caBundle is patched). Use a client that reads
	// from the API server (client.New), not the manager's cached client:
	// Ensure runs before the manager's caches start, and a cache would need
	// list/watch on Secrets.
	Client client.Client
	Now    func() time.Time // default time.Now
	Log    logr.Logger
}

// Manager bootstraps and rotates the webhook's CA and serving certificate.
type Manager struct {
	o      Options
	store  store
	policy policy

	ensureMu sync.Mutex // one Ensure at a time

	mu        sync.Mutex
	bundle    []byte              // current CA bundle (PEM)
	lastTrust []*x509.Certificate // the CAs of that bundle
	trusted   map[string]bool     // CA fingerprints confirmed in every existing webhook configuration
	next      time.Time           // next time the state changes
	missing   bool                // a webhook configuration did not exist at the last pass

	// afterPublish, if set (tests), runs after the cert dir was written.
	afterPublish func()
}

var (
	_ manager.Runnable               = (*Manager)(nil)
	_ manager.LeaderElectionRunnable = (*Manager)(nil)
)

// New validates o, fills in defaults and returns a Manager. It does no I/O.
func New(o Options) (*Manager, error) {
	if o.CertDir == "" {
		return nil, errors.New("certs: CertDir is required")
	}
	if o.ServingValidity == 0 {
		o.ServingValidity = DefaultServingValidity
	}
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CAOverlap == 0 {
		o.CAOverlap = min(DefaultCAOverlap, o.CAValidity/10)
	}
	if o.ResyncInterval == 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	if o.SecretNamespace == "" {
		o.SecretNamespace = o.ServiceNamespace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.ServingValidity < 0 || o.CAValidity < 0 || o.RenewBefore < 0 || o.CAOverlap < 0 || o.ResyncInterval < 0:
		return nil, errors.New("certs: durations must not be negative")
	case o.RenewBefore >= o.ServingValidity:
		return nil, fmt.Errorf("certs: RenewBefore %s must be shorter than ServingValidity %s", o.RenewBefore, o.ServingValidity)
	case o.ServingValidity > o.CAValidity:
		return nil, fmt.Errorf("certs: ServingValidity %s must not exceed CAValidity %s", o.ServingValidity, o.CAValidity)
	case o.CAOverlap*3 >= o.CAValidity:
		return nil, fmt.Errorf("certs: CAOverlap %s must be shorter than a third of CAValidity %s", o.CAOverlap, o.CAValidity)
	case o.ServiceName != "" && o.ServiceNamespace == "":
		return nil, errors.New("certs: ServiceNamespace is required with ServiceName")
	case o.ServiceName == "" && len(o.ExtraDNSNames) == 0 && len(o.ExtraIPs) == 0:
		return nil, errors.New("certs: ServiceName or ExtraDNSNames/ExtraIPs are required")
	}

	m := &Manager{o: o, trusted: map[string]bool{}}
	if o.SecretName != "" {
		if o.Client == nil {
			return nil, errors.New("certs: Client is required with SecretName")
		}
		if o.SecretNamespace == "" {
			return nil, errors.New("certs: SecretNamespace (or ServiceNamespace) is required with SecretName")
		}
		m.store = &secretStore{
			c:   o.Client,
			key: client.ObjectKey{Namespace: o.SecretNamespace, Name: o.SecretName},
			labels: map[string]string{
				"app.kubernetes.io/managed-by": "flyte-admission",
				"app.kubernetes.io/component":  "webhook-certs",
			},
		}
	} else {
		if o.Dir == "" {
			o.Dir = filepath.Join(o.CertDir, "store")
			m.o.Dir = o.Dir
		}
		if filepath.Clean(o.Dir) == filepath.Clean(o.CertDir) {
			return nil, errors.New("certs: Dir must differ from CertDir")
		}
		m.store = &dirStore{dir: o.Dir}
	}
	m.policy = policy{
		servingValidity: o.ServingValidity,
		caValidity:      o.CAValidity,
		renewBefore:     o.RenewBefore,
		caOverlap:       o.CAOverlap,
		sans:            desiredSANs(o),
		caName:          "flyte-admission-ca",
	}
	return m, nil
}

// desiredSANs are the serving certificate's names for o: svc, svc.ns,
// svc.ns.svc, svc.ns.svc.<cluster domain>, then the extras.
func desiredSANs(o Options) sans {
	var s sans
	if o.ServiceName != "" {
		svc, ns := o.ServiceName, o.ServiceNamespace
		dom := o.ClusterDomain
		if dom == "" {
			dom = DefaultClusterDomain
		}
		// The first name is the CommonName: the one the API server dials.
		s.DNSNames = []string{svc + "." + ns + ".svc", svc, svc + "." + ns, svc + "." + ns + ".svc." + dom}
	}
	s.DNSNames = append(s.DNSNames, o.ExtraDNSNames...)
	s.IPs = slices.Clone(o.ExtraIPs)
	return s.normalized()
}

// NeedLeaderElection is false: every replica runs the loop, because every
// replica serves and needs the certificate in its own CertDir. Replicas
// coordinate through the Secret (Create / resourceVersion-guarded Update,
// re-read on AlreadyExists or Conflict), and patching caBundle is idempotent
// (every replica writes the same bundle, read from the Secret).
func (m *Manager) NeedLeaderElection() bool { return false }

// Ensure makes one pass: read the store, create/renew/rotate what is due
// (writing it back with optimistic concurrency), patch caBundle into the
// webhook configurations, then publish tls.crt/tls.key/ca.crt into CertDir.
// A serving certificate is only published once its CA is confirmed in the
// caBundle of every existing webhook configuration. Missing webhook
// configurations are not an error (Start retries them soon).
func (m *Manager) Ensure(ctx context.Context) error {
	m.ensureMu.Lock()
	defer m.ensureMu.Unlock()

	now := m.o.Now()
	var st *state
	var reasons []string
	stored := false
	for attempt := 0; ; attempt++ {
		if attempt == storeAttempts {
			return fmt.Errorf("certs: %s kept changing concurrently; giving up after %d attempts", m.store, attempt)
		}
		snap, err := m.store.load(ctx)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		st = parseState(snap.data)
		if len(st.trust) == 0 {
			// The store was deleted or emptied under us: keep trusting the
			// CAs we knew (until they expire), so that replicas still
			// serving certificates they signed stay trusted while they
			// switch to the new CA.
			m.mu.Lock()
			st.trust = slices.Clone(m.lastTrust)
			m.mu.Unlock()
		}
		reasons, err = m.policy.reconcile(st, now, m.isTrusted)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		if len(reasons) == 0 {
			break
		}
		data, err := st.encode()
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		if snap.found {
			err = m.store.update(ctx, snap, data)
		} else {
			err = m.store.create(ctx, data)
		}
		if errors.Is(err, errConflict) {
			// Another replica wrote first: re-read, and most likely adopt
			// what it wrote.
			m.o.Log.V(1).Info("certificate store changed concurrently, re-reading", "store", m.store.String(), "attempt", attempt+1)
			if err := sleepCtx(ctx, time.Duration(rand.Int64N(int64(20*time.Millisecond)*int64(attempt+1)))); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		stored = true
		break
	}
	if stored {
		m.o.Log.Info("updated certificates", "store", m.store.String(), "reasons", reasons,
			"servingNotAfter", st.serving.cert.NotAfter, "caBundleSize", len(st.trust))
	}

	bundle := st.bundlePEM()
	missing, injErr := m.injectCABundle(ctx, bundle)
	if injErr == nil {
		m.mu.Lock()
		m.trusted = map[string]bool{}
		for _, c := range st.trust {
			m.trusted[fingerprint(c)] = true
		}
		m.missing = len(missing) > 0
		m.mu.Unlock()
		if len(missing) > 0 {
			m.o.Log.V(1).Info("webhook configurations not found yet; will retry", "missing", missing)
		}
	}
	if injErr != nil && !m.isTrusted(st.signing.cert) {
		// Never publish a certificate whose CA the API server may not trust.
		return fmt.Errorf("certs: not publishing the serving certificate: %w", injErr)
	}

	keyPEM, err := encodeKeyPEM(st.serving.key)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	changed, err := writeCertDir(m.o.CertDir, map[string][]byte{
		CertFile: encodeCertsPEM(st.serving.cert),
		KeyFile:  keyPEM,
		CAFile:   bundle,
	}, map[string]bool{KeyFile: true})
	if err != nil {
		return fmt.Errorf("certs: write %s: %w", m.o.CertDir, err)
	}
	if changed {
		m.o.Log.Info("published serving certificate", "dir", m.o.CertDir,
			"notAfter", st.serving.cert.NotAfter, "issuer", st.serving.cert.Issuer.CommonName)
	}
	m.mu.Lock()
	m.bundle = bundle
	m.lastTrust = slices.Clone(st.trust)
	m.next = m.policy.nextEvent(st)
	hook := m.afterPublish
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	if injErr != nil {
		return fmt.Errorf("certs: %w", injErr)
	}
	return nil
}

func (m *Manager) isTrusted(c *x509.Certificate) bool {
	if m.o.Client == nil || (m.o.MutatingWebhookName == "" && m.o.ValidatingWebhookName == "") {
		return true // nothing to inject into
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.trusted[fingerprint(c)]
}

// Start runs Ensure until ctx is done: again at the next renewal, rotation
// step or expiry, at the latest after ResyncInterval, sooner (5s) while a
// webhook configuration is missing, and with backoff after errors. Errors
// are logged, not returned: Ready reports the state. Call Ensure once
// before starting the webhook server (its certwatcher needs the files).
func (m *Manager) Start(ctx context.Context) error {
	backoff := minWait
	for {
		var wait time.Duration
		if err := m.Ensure(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.o.Log.Error(err, "ensuring webhook certificates", "retryIn", backoff)
			wait = backoff
			backoff = min(backoff*2, m.o.ResyncInterval)
		} else {
			backoff = minWait
			wait = m.untilNext()
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return nil
		}
	}
}

// untilNext is how long Start sleeps after a successful pass.
func (m *Manager) untilNext() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	wait := m.o.ResyncInterval
	if m.missing {
		wait = min(wait, missingRetry)
	}
	if !m.next.IsZero() {
		// A little after the event, so that it is due when we wake.
		wait = min(wait, m.next.Sub(m.o.Now())+50*time.Millisecond)
	}
	return max(wait, minWait)
}

// Ready returns nil once a valid serving certificate and its key are in
// CertDir (for /readyz): readable, matching, valid now and, once a bundle
// is known, chaining to it.
func (m *Manager) Ready() error {
	pair, err := tls.LoadX509KeyPair(filepath.Join(m.o.CertDir, CertFile), filepath.Join(m.o.CertDir, KeyFile))
	if err != nil {
		return fmt.Errorf("no serving certificate: %w", err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return err
		}
	}
	now := m.o.Now()
	if !validAt(leaf, now) {
		return fmt.Errorf("serving certificate not valid now (valid %s to %s)", leaf.NotBefore, leaf.NotAfter)
	}
	if bundle := m.CABundle(); len(bundle) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(bundle)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return fmt.Errorf("serving certificate does not chain to the CA bundle: %w", err)
		}
	}
	return nil
}

// CABundle returns the PEM CA bundle (every unexpired CA) as of the last
// Ensure, or nil before the first.
func (m *Manager) CABundle() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.bundle)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
