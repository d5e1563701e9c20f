package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync/atomic"
)

// NewClientCAFile loads a PEM bundle of the certificate authorities whose
// client certificates the webhook accepts (--client-ca-file), as a
// FileSource: run it as a Starter and the bundle is re-read when the file
// changes (a bundle that no longer parses keeps the previous one in force).
func NewClientCAFile(path string) (*FileSource[x509.CertPool], error) {
	if path == "" {
		return nil, errors.New("client CA file: no path")
	}
	return NewFileSource("client-ca", path, parseClientCAs)
}

// parseClientCAs reads every CERTIFICATE block of a PEM bundle; a bundle
// without one, another kind of block or a certificate that does not parse is
// an error (a typo must not silently trust nothing, or something else).
func parseClientCAs(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		n++
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want CERTIFICATE", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		pool.AddCert(c)
	}
	if n == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return pool, nil
}

// requireClientCerts makes c refuse, during the TLS handshake, every client
// that does not present a certificate chaining to cas() (read at each
// handshake, so that a reloaded bundle applies to the next connection).
// Session tickets are off: a resumed session would skip the check against
// the current bundle.
func requireClientCerts(c *tls.Config, cas func() *x509.CertPool) {
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.ClientCAs = cas()
	c.SessionTicketsDisabled = true
	var current atomic.Pointer[tls.Config]
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool := cas()
		if cc := current.Load(); cc != nil && cc.ClientCAs == pool {
			return cc, nil
		}
		cc := c.Clone()
		cc.GetConfigForClient = nil
		cc.ClientCAs = pool
		current.Store(cc)
		return cc, nil
	}
}
