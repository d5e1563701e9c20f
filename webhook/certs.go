package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// CertSource is where the serving certificate comes from: the seam between
// the server and whoever provides certificates. The default, DirCerts, serves
// tls.crt/tls.key from a directory (cert-manager's Secret mount, or a
// directory the self-managed certs package writes and rotates); a
// self-managed implementation may also serve from memory.
type CertSource interface {
	// GetCertificate is tls.Config.GetCertificate.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Ready returns nil once a valid (parsed, unexpired) certificate is loaded.
	Ready() error
}

// Starter is implemented by certificate sources (and anything else) that need
// to run alongside the server; Server.Start starts them.
type Starter interface {
	Start(ctx context.Context) error
}

// DirCerts serves the certificate and key files of a directory, reloading
// them when they change (controller-runtime's certwatcher). The files may
// appear after start (a Secret mounted late, certificates bootstrapped by
// another component): until then the server is not ready and TLS handshakes
// fail.
type DirCerts struct {
	CertPath, KeyPath string
	// Poll is how often to look for the files before they exist, and the
	// certwatcher's re-read interval (default 1s and 10s).
	Poll, Interval time.Duration
	Log            logr.Logger

	watcher atomic.Pointer[certwatcher.CertWatcher]
	lastErr atomic.Pointer[error]
}

// NewDirCerts watches certPath and keyPath.
func NewDirCerts(certPath, keyPath string) *DirCerts {
	d := &DirCerts{CertPath: certPath, KeyPath: keyPath, Poll: time.Second, Interval: 10 * time.Second}
	err := errors.New("certificate not loaded yet")
	d.lastErr.Store(&err)
	return d
}

// Start implements Starter: it waits for the files, then watches them.
func (d *DirCerts) Start(ctx context.Context) error {
	t := time.NewTicker(d.Poll)
	defer t.Stop()
	logged := false
	for {
		w, err := certwatcher.New(d.CertPath, d.KeyPath)
		if err == nil {
			if d.Interval > 0 {
				w = w.WithWatchInterval(d.Interval)
			}
			d.watcher.Store(w)
			d.lastErr.Store(nil)
			d.Log.Info("serving certificate loaded", "cert", d.CertPath)
			return w.Start(ctx)
		}
		err = fmt.Errorf("load serving certificate %s: %w", d.CertPath, err)
		d.lastErr.Store(&err)
		if !logged {
			d.Log.Info("waiting for the serving certificate", "error", err.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// GetCertificate implements CertSource.
func (d *DirCerts) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	w := d.watcher.Load()
	if w == nil {
		return nil, d.Ready()
	}
	return w.GetCertificate(hello)
}

// Ready implements CertSource.
func (d *DirCerts) Ready() error {
	w := d.watcher.Load()
	if w == nil {
		if e := d.lastErr.Load(); e != nil {
			return *e
		}
		return errors.New("certificate not loaded yet")
	}
	c, _ := w.GetCertificate(nil)
	return certValid(c, time.Now())
}

func certValid(c *tls.Certificate, now time.Time) error {
	if c == nil || len(c.Certificate) == 0 {
		return errors.New("no serving certificate")
	}
	if c.Leaf != nil && now.After(c.Leaf.NotAfter) {
		return fmt.Errorf("serving certificate expired at %s", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
