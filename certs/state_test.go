package certs

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func always(*x509.Certificate) bool { return true }
func never(*x509.Certificate) bool  { return false }

// roundTrip encodes and re-parses s, as a store would.
func roundTrip(t *testing.T, s *state) *state {
	t.Helper()
	data, err := s.encode()
	require.NoError(t, err)
	return parseState(data)
}

func bootstrap(t *testing.T, p policy, now time.Time) *state {
	t.Helper()
	s := parseState(nil)
	reasons, err := p.reconcile(s, now, always)
	require.NoError(t, err)
	require.NotEmpty(t, reasons)
	return roundTrip(t, s)
}

func TestReconcileBootstrapThenStable(t *testing.T) {
	p := testPolicy()
	s := bootstrap(t, p, t0)
	require.NotNil(t, s.signing)
	require.NotNil(t, s.serving)
	require.Nil(t, s.next)
	require.Len(t, s.trust, 1)
	require.NoError(t, s.serving.cert.CheckSignatureFrom(s.signing.cert))

	reasons, err := p.reconcile(s, t0.Add(time.Minute), always)
	require.NoError(t, err)
	require.Empty(t, reasons, "nothing due: nothing to store")
}

func TestReconcileServingRenewal(t *testing.T) {
	p := testPolicy() // serving 1h: backdated 5m, renewed at NotBefore + 2/3 * 65m
	s := bootstrap(t, p, t0)
	leaf := s.serving.cert
	due := renewAt(leaf, 0)
	require.Equal(t, leaf.NotBefore.Add(65*time.Minute*2/3), due)

	reasons, err := p.reconcile(s, due.Add(-time.Second), always)
	require.NoError(t, err)
	require.Empty(t, reasons)
	require.Equal(t, due, p.nextEvent(s))

	reasons, err = p.reconcile(s, due, always)
	require.NoError(t, err)
	require.Len(t, reasons, 1)
	require.Contains(t, reasons[0], "due for renewal")
	require.False(t, s.serving.cert.Equal(leaf))
	require.Len(t, s.trust, 1, "same CA")

	// RenewBefore larger than 1/3 of the lifetime renews earlier.
	p.renewBefore = 40 * time.Minute
	s = bootstrap(t, p, t0)
	reasons, err = p.reconcile(s, s.serving.cert.NotAfter.Add(-40*time.Minute), always)
	require.NoError(t, err)
	require.NotEmpty(t, reasons)
}

func TestReconcileSANMismatchRegenerates(t *testing.T) {
	p := testPolicy()
	s := bootstrap(t, p, t0)
	ca := s.signing.cert

	p.sans = desiredSANs(Options{ServiceName: "renamed", ServiceNamespace: "ns"})
	reasons, err := p.reconcile(s, t0.Add(time.Minute), always)
	require.NoError(t, err)
	require.Len(t, reasons, 1)
	require.Contains(t, reasons[0], "SANs")
	require.Contains(t, s.serving.cert.DNSNames, "renamed.ns.svc")
	require.True(t, s.signing.cert.Equal(ca), "a SAN change does not touch the CA")
}

func TestReconcileReplacesBrokenServingCert(t *testing.T) {
	p := testPolicy()
	s := bootstrap(t, p, t0)
	other, err := newCA(t0, time.Hour*30, "other")
	require.NoError(t, err)
	foreign, err := newServing(other, t0, time.Hour, p.sans)
	require.NoError(t, err)
	s.serving = foreign
	reasons, err := p.reconcile(s, t0.Add(time.Minute), always)
	require.NoError(t, err)
	require.Contains(t, reasons, "serving certificate not signed by the signing CA: reissued")
	require.NoError(t, s.serving.cert.CheckSignatureFrom(s.signing.cert))
}

// TestReconcileCARotation walks a CA rotation step by step and checks that
// the serving certificate's CA is in the bundle at every step.
func TestReconcileCARotation(t *testing.T) {
	p := testPolicy() // CA 30h (+5m backdate), overlap 1h, serving 1h
	s := bootstrap(t, p, t0)
	oldCA := s.signing.cert
	caDue := p.caRenewAt(oldCA)
	require.Equal(t, oldCA.NotBefore.Add(oldCA.NotAfter.Sub(oldCA.NotBefore)*2/3), caDue)

	inBundle := func(s *state, c *x509.Certificate) bool {
		for _, b := range s.trust {
			if b.Equal(c) {
				return true
			}
		}
		return false
	}
	check := func(s *state, now time.Time) {
		t.Helper()
		pool := x509.NewCertPool()
		for _, c := range s.trust {
			pool.AddCert(c)
		}
		_, err := s.serving.cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now})
		require.NoError(t, err, "serving certificate must chain to the bundle at %s", now)
	}

	// Just before: only the serving certificate is renewed, no new CA.
	reasons, err := p.reconcile(s, caDue.Add(-time.Second), always)
	require.NoError(t, err)
	require.Equal(t, []string{"serving certificate not valid now: reissued"}, reasons)
	require.Nil(t, s.next)
	reasons, err = p.reconcile(s, caDue.Add(-time.Second), always)
	require.NoError(t, err)
	require.Empty(t, reasons)

	// 1. Due: a new CA joins the bundle; the serving certificate is kept.
	leaf := s.serving.cert
	now := caDue
	reasons, err = p.reconcile(s, now, always)
	require.NoError(t, err)
	require.NotEmpty(t, reasons)
	s = roundTrip(t, s)
	require.NotNil(t, s.next)
	require.Equal(t, now, s.nextSince)
	require.True(t, s.signing.cert.Equal(oldCA), "old CA still signs")
	require.Len(t, s.trust, 2)
	require.True(t, inBundle(s, s.next.cert))
	require.True(t, s.serving.cert.Equal(leaf) || s.serving.cert.CheckSignatureFrom(oldCA) == nil)
	check(s, now)
	newCA := s.next.cert

	// During the overlap, serving renewals are still signed by the old CA.
	now = now.Add(30 * time.Minute)
	_, err = p.reconcile(s, now, always)
	require.NoError(t, err)
	require.NoError(t, s.serving.cert.CheckSignatureFrom(oldCA))
	check(s, now)

	// 2. Overlap over, but the new bundle is not confirmed injected: wait.
	now = s.nextSince.Add(p.caOverlap)
	require.False(t, p.nextEvent(s).After(now))
	_, err = p.reconcile(s, now, never)
	require.NoError(t, err)
	require.NotNil(t, s.next)
	require.NoError(t, s.serving.cert.CheckSignatureFrom(oldCA))
	reasons, err = p.reconcile(s, now, never)
	require.NoError(t, err)
	require.Empty(t, reasons)

	// 3. Confirmed: the new CA signs and the serving certificate is reissued.
	reasons, err = p.reconcile(s, now, always)
	require.NoError(t, err)
	require.NotEmpty(t, reasons)
	s = roundTrip(t, s)
	require.Nil(t, s.next)
	require.True(t, s.signing.cert.Equal(newCA))
	require.NoError(t, s.serving.cert.CheckSignatureFrom(newCA))
	require.Len(t, s.trust, 2, "old CA stays while it is valid")
	require.True(t, inBundle(s, oldCA))
	check(s, now)

	// 4. The old CA leaves the bundle when it expires.
	for now.Before(oldCA.NotAfter) {
		now = now.Add(20 * time.Minute)
		_, err = p.reconcile(s, now, always)
		require.NoError(t, err)
		s = roundTrip(t, s)
		check(s, now)
	}
	require.Len(t, s.trust, 1)
	require.True(t, s.trust[0].Equal(newCA))
}

func TestReconcileExpiredCAIsReplacedAtOnce(t *testing.T) {
	p := testPolicy()
	s := bootstrap(t, p, t0)
	old := s.signing.cert
	now := old.NotAfter.Add(time.Hour) // e.g. the Secret was restored from an old backup
	reasons, err := p.reconcile(s, now, never)
	require.NoError(t, err)
	require.Contains(t, reasons, "signing CA expired: created a new one")
	require.False(t, s.signing.cert.Equal(old))
	require.Len(t, s.trust, 1, "expired CA dropped from the bundle")
	require.NoError(t, s.serving.cert.CheckSignatureFrom(s.signing.cert))
}

func TestReconcileMissingCAKeyKeepsOldCATrusted(t *testing.T) {
	p := testPolicy()
	s := bootstrap(t, p, t0)
	data, err := s.encode()
	require.NoError(t, err)
	delete(data, keyCAKey)
	s2 := parseState(data)
	require.Nil(t, s2.signing)
	_, err = p.reconcile(s2, t0.Add(time.Minute), always)
	require.NoError(t, err)
	require.Len(t, s2.trust, 2, "old CA kept: the serving certificates it signed are still trusted")
	require.NoError(t, s2.serving.cert.CheckSignatureFrom(s2.signing.cert))
}

func TestParseStateToleratesGarbage(t *testing.T) {
	s := parseState(map[string][]byte{
		keyCABundle: []byte("not pem"),
		keyCAKey:    []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		keyTLSCert:  []byte(""),
	})
	require.Nil(t, s.signing)
	require.Nil(t, s.serving)
	reasons, err := testPolicy().reconcile(s, t0, always)
	require.NoError(t, err)
	require.NotEmpty(t, reasons)
	require.NotNil(t, s.serving)
}
