package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testPolicy() policy {
	return policy{
		servingValidity: time.Hour,
		caValidity:      30 * time.Hour,
		caOverlap:       time.Hour,
		sans:            desiredSANs(Options{ServiceName: "wh", ServiceNamespace: "ns"}),
		caName:          "test-ca",
	}
}

func TestDesiredSANs(t *testing.T) {
	s := desiredSANs(Options{
		ServiceName: "flyte-admission", ServiceNamespace: "flyte",
		ExtraDNSNames: []string{"localhost", "Flyte-Admission", ""},
		ExtraIPs:      []net.IP{net.ParseIP("127.0.0.1"), net.IPv4(127, 0, 0, 1)},
	})
	require.Equal(t, []string{
		"flyte-admission.flyte.svc", "flyte-admission", "flyte-admission.flyte",
		"flyte-admission.flyte.svc.cluster.local", "localhost",
	}, s.DNSNames)
	require.Len(t, s.IPs, 1)
	require.True(t, s.IPs[0].Equal(net.ParseIP("127.0.0.1")))

	s2 := desiredSANs(Options{ServiceName: "a", ServiceNamespace: "b", ClusterDomain: "corp.example"})
	require.Contains(t, s2.DNSNames, "a.b.svc.corp.example")

	local := desiredSANs(Options{ExtraIPs: []net.IP{net.ParseIP("::1")}})
	require.Empty(t, local.DNSNames)
	require.Len(t, local.IPs, 1)
}

func TestSANsEqualIgnoresOrderCaseAndIPForm(t *testing.T) {
	a := sans{DNSNames: []string{"a", "B"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}}
	b := sans{DNSNames: []string{"b", "a", "a"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1).To4()}}
	require.True(t, a.equal(b))
	require.False(t, a.equal(sans{DNSNames: []string{"a", "b"}}))
	require.False(t, a.equal(sans{DNSNames: []string{"a", "b", "c"}, IPs: a.IPs}))
}

func TestNewCAAndServing(t *testing.T) {
	ca, err := newCA(t0, 10*time.Hour, "test-ca")
	require.NoError(t, err)
	require.True(t, ca.cert.IsCA)
	require.True(t, ca.cert.MaxPathLenZero)
	require.IsType(t, &ecdsa.PublicKey{}, ca.cert.PublicKey)
	require.Equal(t, elliptic.P256(), ca.key.Curve)
	require.Equal(t, t0.Add(10*time.Hour), ca.cert.NotAfter)
	require.Equal(t, t0.Add(-5*time.Minute), ca.cert.NotBefore, "backdated for clock skew")

	names := desiredSANs(Options{ServiceName: "wh", ServiceNamespace: "ns", ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")}})
	leaf, err := newServing(ca, t0, time.Hour, names)
	require.NoError(t, err)
	require.False(t, leaf.cert.IsCA)
	require.Equal(t, "wh.ns.svc", leaf.cert.Subject.CommonName)
	require.ElementsMatch(t, []string{"wh", "wh.ns", "wh.ns.svc", "wh.ns.svc.cluster.local"}, leaf.cert.DNSNames)
	require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, leaf.cert.ExtKeyUsage)
	require.Equal(t, t0.Add(time.Hour), leaf.cert.NotAfter)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	for _, host := range []string{"wh.ns.svc", "wh", "wh.ns", "wh.ns.svc.cluster.local", "127.0.0.1"} {
		_, err := leaf.cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, CurrentTime: t0})
		require.NoError(t, err, host)
	}
	_, err = leaf.cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.ns.svc", CurrentTime: t0})
	require.Error(t, err)

	// A serving certificate never outlives its CA.
	late, err := newServing(ca, t0.Add(9*time.Hour+30*time.Minute), time.Hour, names)
	require.NoError(t, err)
	require.Equal(t, ca.cert.NotAfter, late.cert.NotAfter)

	// PEM round trip.
	keyPEM, err := encodeKeyPEM(leaf.key)
	require.NoError(t, err)
	kp, err := parseKeyPair(encodeCertsPEM(leaf.cert), keyPEM)
	require.NoError(t, err)
	require.True(t, kp.cert.Equal(leaf.cert))
	_, err = parseKeyPair(encodeCertsPEM(ca.cert), keyPEM)
	require.ErrorContains(t, err, "does not match")
}

func TestRenewAt(t *testing.T) {
	c := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(300 * 24 * time.Hour)}
	require.Equal(t, t0.Add(200*24*time.Hour), renewAt(c, 0), "2/3 of the lifetime")
	require.Equal(t, t0.Add(200*24*time.Hour), renewAt(c, 30*24*time.Hour), "margin later than 2/3: 2/3 wins")
	require.Equal(t, t0.Add(150*24*time.Hour), renewAt(c, 150*24*time.Hour), "margin earlier than 2/3: margin wins")
}

func TestBackdate(t *testing.T) {
	require.Equal(t, 5*time.Minute, backdate(365*24*time.Hour))
	require.Equal(t, 6*time.Second, backdate(time.Minute))
}
