package certs

import (
	"crypto/x509"
	"fmt"
	"sort"
	"time"
)

// Keys of the stored data (Secret data keys, or file names in local mode).
// tls.crt / tls.key / ca.crt are the kubernetes.io/tls conventions; the rest
// are ours.
const (
	keyTLSCert     = "tls.crt"            // serving certificate (leaf only)
	keyTLSKey      = "tls.key"            // its private key (PKCS#8)
	keyCABundle    = "ca.crt"             // trust bundle: every unexpired CA (signing, next, previous)
	keyCAKey       = "ca.key"             // private key of the signing CA (its certificate is in ca.crt)
	keyNextCACert  = "ca-next.crt"        // pending CA: trusted (in ca.crt) but not signing yet
	keyNextCAKey   = "ca-next.key"        // its private key
	keyNextCASince = "ca-next.introduced" // RFC 3339 time the pending CA joined ca.crt
)

// managedKeys are the keys this package owns in the store.
var managedKeys = []string{keyTLSCert, keyTLSKey, keyCABundle, keyCAKey, keyNextCACert, keyNextCAKey, keyNextCASince}

// state is the parsed content of the store.
type state struct {
	trust     []*x509.Certificate // ca.crt
	signing   *keyPair            // ca.key + its certificate from ca.crt
	next      *keyPair            // pending CA (nil outside a CA rotation)
	nextSince time.Time
	serving   *keyPair
}

// parseState reads whatever is usable from the stored data; unusable parts are
// left nil and reconcile replaces them.
func parseState(data map[string][]byte) *state {
	s := &state{}
	if b := data[keyCABundle]; len(b) > 0 {
		if cs, err := parseCertsPEM(b); err == nil {
			s.trust = cs
		}
	}
	if b := data[keyCAKey]; len(b) > 0 {
		if key, err := parseKeyPEM(b); err == nil {
			for _, c := range s.trust {
				if c.IsCA && keyMatches(c, key) {
					s.signing = &keyPair{cert: c, key: key}
					break
				}
			}
		}
	}
	if kp, err := parseKeyPair(data[keyNextCACert], data[keyNextCAKey]); err == nil && kp.cert.IsCA {
		s.next = kp
		if t, err := time.Parse(time.RFC3339Nano, string(data[keyNextCASince])); err == nil {
			s.nextSince = t
		}
	}
	if kp, err := parseKeyPair(data[keyTLSCert], data[keyTLSKey]); err == nil {
		s.serving = kp
	}
	return s
}

// encode renders the state as store data (all managed keys; absent optional
// keys are omitted, and so deleted by the stores).
func (s *state) encode() (map[string][]byte, error) {
	data := map[string][]byte{
		keyCABundle: encodeCertsPEM(s.trust...),
		keyTLSCert:  encodeCertsPEM(s.serving.cert),
	}
	var err error
	if data[keyTLSKey], err = encodeKeyPEM(s.serving.key); err != nil {
		return nil, err
	}
	if data[keyCAKey], err = encodeKeyPEM(s.signing.key); err != nil {
		return nil, err
	}
	if s.next != nil {
		data[keyNextCACert] = encodeCertsPEM(s.next.cert)
		if data[keyNextCAKey], err = encodeKeyPEM(s.next.key); err != nil {
			return nil, err
		}
		data[keyNextCASince] = []byte(s.nextSince.UTC().Format(time.RFC3339Nano))
	}
	return data, nil
}

// bundlePEM is the CA bundle to trust (webhook caBundle, ca.crt).
func (s *state) bundlePEM() []byte { return encodeCertsPEM(s.trust...) }

// policy holds what reconcile needs from the Options.
type policy struct {
	servingValidity time.Duration
	caValidity      time.Duration
	renewBefore     time.Duration
	caOverlap       time.Duration
	sans            sans
	caName          string
}

// caRenewAt is when a new CA is introduced next to ca: at 2/3 of its lifetime,
// but early enough that the overlap fits twice before it expires.
func (p policy) caRenewAt(ca *x509.Certificate) time.Time {
	at := renewAt(ca, 0)
	if m := ca.NotAfter.Add(-2 * p.caOverlap); m.Before(at) {
		at = m
	}
	return at
}

// reconcile moves s towards the desired state at time now, and returns why it
// changed anything (nil: nothing to store). trusted reports whether a CA is
// known to be in the caBundle of every existing webhook configuration; a
// pending CA is promoted to signing only then, and only after the overlap.
//
// The CA rotation, in steps that each leave every served certificate trusted:
//  1. the signing CA passes caRenewAt: a new CA is created and added to the
//     trust bundle (ca.crt), but does not sign yet;
//  2. the bundle is patched into the webhook configurations (by the caller);
//  3. after caOverlap, once the bundle with the new CA is confirmed injected,
//     the new CA becomes the signing CA and a new serving certificate is
//     issued with it;
//  4. the old CA stays in the bundle until it expires; since a serving
//     certificate never outlives its CA, no unexpired serving certificate is
//     ever without its CA in the bundle.
func (p policy) reconcile(s *state, now time.Time, trusted func(*x509.Certificate) bool) ([]string, error) {
	var reasons []string
	oldTrust := fingerprints(s.trust)

	// The pending CA, if unusable, is dropped.
	if s.next != nil && !validAt(s.next.cert, now) {
		s.next, s.nextSince = nil, time.Time{}
		reasons = append(reasons, "pending CA expired: dropped")
	}
	if s.next != nil && s.nextSince.IsZero() {
		s.nextSince = now
		reasons = append(reasons, "pending CA had no introduction time: overlap starts now")
	}

	// The signing CA.
	switch {
	case s.signing != nil && validAt(s.signing.cert, now):
	case s.next != nil:
		// The signing CA is gone or expired: nothing signed by it is valid
		// any more, so the overlap protects nothing; promote at once.
		s.signing, s.next, s.nextSince = s.next, nil, time.Time{}
		reasons = append(reasons, "signing CA missing or expired: pending CA promoted")
	default:
		ca, err := newCA(now, p.caValidity, p.caName)
		if err != nil {
			return nil, err
		}
		what := "no CA: created one"
		if s.signing != nil {
			what = "signing CA expired: created a new one"
		}
		s.signing = ca
		reasons = append(reasons, what)
	}

	// Introduce the next CA, or promote it after the overlap.
	if s.next == nil && !now.Before(p.caRenewAt(s.signing.cert)) {
		ca, err := newCA(now, p.caValidity, p.caName)
		if err != nil {
			return nil, err
		}
		s.next, s.nextSince = ca, now
		reasons = append(reasons, fmt.Sprintf("CA due for renewal (expires %s): new CA added to the bundle, signing after %s",
			s.signing.cert.NotAfter.UTC().Format(time.RFC3339), p.caOverlap))
	}
	if s.next != nil && !now.Before(s.nextSince.Add(p.caOverlap)) && trusted(s.next.cert) {
		s.signing, s.next, s.nextSince = s.next, nil, time.Time{}
		reasons = append(reasons, "CA overlap over and new CA injected: new CA is now signing")
	}

	// The trust bundle: every unexpired CA we know of, oldest first.
	s.trust = p.trustBundle(s, now)
	if newTrust := fingerprints(s.trust); !equalStrings(oldTrust, newTrust) {
		reasons = append(reasons, "CA bundle changed")
	}

	// The serving certificate.
	if why := p.servingProblem(s, now); why != "" {
		leaf, err := newServing(s.signing, now, p.servingValidity, p.sans)
		if err != nil {
			return nil, err
		}
		s.serving = leaf
		reasons = append(reasons, why)
	}
	return reasons, nil
}

func (p policy) trustBundle(s *state, now time.Time) []*x509.Certificate {
	all := append([]*x509.Certificate{}, s.trust...)
	all = append(all, s.signing.cert)
	if s.next != nil {
		all = append(all, s.next.cert)
	}
	seen := map[string]bool{}
	var out []*x509.Certificate
	for _, c := range all {
		fp := fingerprint(c)
		if seen[fp] || !c.IsCA || !now.Before(c.NotAfter) {
			continue
		}
		seen[fp] = true
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NotBefore.Before(out[j].NotBefore) })
	return out
}

// servingProblem says why the serving certificate must be (re)issued, or "".
func (p policy) servingProblem(s *state, now time.Time) string {
	c := s.serving
	switch {
	case c == nil:
		return "no serving certificate: issued one"
	case !validAt(c.cert, now):
		return "serving certificate not valid now: reissued"
	case c.cert.CheckSignatureFrom(s.signing.cert) != nil:
		return "serving certificate not signed by the signing CA: reissued"
	case !certSANs(c.cert).equal(p.sans):
		return fmt.Sprintf("serving certificate SANs %q differ from %q: reissued", certSANs(c.cert), p.sans.normalized())
	case !now.Before(renewAt(c.cert, p.renewBefore)):
		return fmt.Sprintf("serving certificate due for renewal (expires %s): reissued", c.cert.NotAfter.UTC().Format(time.RFC3339))
	case c.cert.NotAfter.Sub(now) > p.servingValidity+maxBackdate:
		return "serving certificate outlives the configured validity: reissued"
	}
	return ""
}

// nextEvent is the earliest time at which reconcile would change something.
func (p policy) nextEvent(s *state) time.Time {
	var t time.Time
	take := func(x time.Time) {
		if t.IsZero() || x.Before(t) {
			t = x
		}
	}
	if s.serving != nil {
		take(renewAt(s.serving.cert, p.renewBefore))
		take(s.serving.cert.NotAfter)
	}
	if s.signing != nil {
		if s.next == nil {
			take(p.caRenewAt(s.signing.cert))
		}
		take(s.signing.cert.NotAfter)
	}
	if s.next != nil {
		take(s.nextSince.Add(p.caOverlap))
	}
	for _, c := range s.trust {
		take(c.NotAfter)
	}
	return t
}

func fingerprints(cs []*x509.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fingerprint(c)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
