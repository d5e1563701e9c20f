package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"sort"
	"strings"
	"time"
)

// maxBackdate bounds how far NotBefore is set in the past, to tolerate clock
// skew between this process and the kube-apiservers that verify the chain.
const maxBackdate = 5 * time.Minute

// backdate returns how far before "now" a certificate of the given validity
// starts: 5 minutes, or a tenth of the validity for very short test lifetimes.
func backdate(validity time.Duration) time.Duration {
	return min(maxBackdate, validity/10)
}

// keyPair is a parsed certificate with its private key (key may be nil for
// trust-only CAs).
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func newSerial() (*big.Int, error) {
	// 128 random bits, positive, as RFC 5280 and the CA/B forum ask.
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// newCA creates a self-signed ECDSA P-256 CA valid from now-backdate to
// now+validity.
func newCA(now time.Time, validity time.Duration, commonName string) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			// Unique per CA, so that the CAs of a bundle can be told apart.
			CommonName:   fmt.Sprintf("%s@%d", commonName, now.UnixNano()),
			Organization: []string{"flyte-admission"},
		},
		NotBefore:             now.Add(-backdate(validity)),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          subjectKeyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// sans is the set of subject alternative names of a serving certificate.
type sans struct {
	DNSNames []string
	IPs      []net.IP
}

// normalized returns the SANs de-duplicated and sorted, DNS names lower-cased
// and IPs in their 16-byte form, so two SAN sets compare with equal.
func (s sans) normalized() sans {
	var out sans
	seen := map[string]bool{}
	for _, d := range s.DNSNames {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || seen["dns:"+d] {
			continue
		}
		seen["dns:"+d] = true
		out.DNSNames = append(out.DNSNames, d)
	}
	for _, ip := range s.IPs {
		if ip == nil {
			continue
		}
		ip = ip.To16()
		if seen["ip:"+ip.String()] {
			continue
		}
		seen["ip:"+ip.String()] = true
		out.IPs = append(out.IPs, ip)
	}
	// DNS names keep the caller's order (the first becomes the CommonName);
	// comparison sorts copies.
	return out
}

func (s sans) equal(o sans) bool {
	a, b := s.normalized(), o.normalized()
	ad, bd := slices.Clone(a.DNSNames), slices.Clone(b.DNSNames)
	sort.Strings(ad)
	sort.Strings(bd)
	if !slices.Equal(ad, bd) {
		return false
	}
	ai, bi := ipStrings(a.IPs), ipStrings(b.IPs)
	return slices.Equal(ai, bi)
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	sort.Strings(out)
	return out
}

func (s sans) String() string {
	parts := slices.Clone(s.DNSNames)
	for _, ip := range s.IPs {
		parts = append(parts, ip.String())
	}
	return strings.Join(parts, ",")
}

func certSANs(c *x509.Certificate) sans {
	return sans{DNSNames: c.DNSNames, IPs: c.IPAddresses}
}

// newServing issues a serving (leaf) certificate for the SANs, signed by ca.
// Its NotAfter never exceeds the CA's, so a serving certificate is only valid
// while the CA that signed it is valid (and thus still in the CA bundle).
func newServing(ca *keyPair, now time.Time, validity time.Duration, names sans) (*keyPair, error) {
	if ca == nil || ca.key == nil {
		return nil, errors.New("no signing CA")
	}
	names = names.normalized()
	if len(names.DNSNames) == 0 && len(names.IPs) == 0 {
		return nil, errors.New("serving certificate needs at least one DNS name or IP")
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	notBefore := now.Add(-backdate(validity))
	if notBefore.Before(ca.cert.NotBefore) {
		notBefore = ca.cert.NotBefore
	}
	cn := ""
	if len(names.DNSNames) > 0 {
		cn = names.DNSNames[0]
	} else {
		cn = names.IPs[0].String()
	}
	if len(cn) > 64 { // ub-common-name
		cn = cn[:64]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"flyte-admission"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		DNSNames:              names.DNSNames,
		IPAddresses:           names.IPs,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("create serving certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// renewAt is when a certificate should be replaced: once 2/3 of its lifetime
// has passed or, when renewBefore > 0, once less than renewBefore remains,
// whichever comes first.
func renewAt(c *x509.Certificate, renewBefore time.Duration) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	at := c.NotBefore.Add(life * 2 / 3)
	if renewBefore > 0 {
		if m := c.NotAfter.Add(-renewBefore); m.Before(at) {
			at = m
		}
	}
	return at
}

func subjectKeyID(pub *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

// fingerprint is the hex SHA-256 of a certificate's DER.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// keyMatches reports whether key is the private key of cert.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	if cert == nil || key == nil {
		return false
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// ---- PEM ----

func encodeCertsPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

func encodeKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCertsPEM parses every CERTIFICATE block; other blocks are skipped.
func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in PEM data")
	}
	return out, nil
}

// parseKeyPEM parses an ECDSA private key in PKCS#8 or SEC 1 form.
func parseKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no private key in PEM data")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("private key is %T, want ECDSA", k)
			}
			return ek, nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(b.Bytes)
		}
	}
}

// parseKeyPair parses a certificate (the first of certPEM) and its key; both
// must be present and match.
func parseKeyPair(certPEM, keyPEM []byte) (*keyPair, error) {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil, errors.New("missing certificate or key")
	}
	cs, err := parseCertsPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !keyMatches(cs[0], key) {
		return nil, errors.New("private key does not match certificate")
	}
	return &keyPair{cert: cs[0], key: key}, nil
}

func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && now.Before(c.NotAfter)
}
