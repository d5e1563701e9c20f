package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// TestCertWatcherPicksUpEveryVersion checks that controller-runtime's
// certwatcher (what webhook.Server uses) sees each published version
// promptly through its file events, without waiting for its 10s poll, and
// never loads a certificate with the key of another.
func TestCertWatcherPicksUpEveryVersion(t *testing.T) {
	dir := t.TempDir()
	p := testPolicy()
	publish := func(now time.Time) *x509.Certificate {
		s := parseState(nil)
		_, err := p.reconcile(s, now, always)
		require.NoError(t, err)
		key, err := encodeKeyPEM(s.serving.key)
		require.NoError(t, err)
		changed, err := writeCertDir(dir, map[string][]byte{
			CertFile: encodeCertsPEM(s.serving.cert), KeyFile: key, CAFile: s.bundlePEM(),
		}, map[string]bool{KeyFile: true})
		require.NoError(t, err)
		require.True(t, changed)
		return s.serving.cert
	}
	first := publish(t0)

	cw, err := certwatcher.New(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	loaded := make(chan tls.Certificate, 16)
	cw.RegisterCallback(func(c tls.Certificate) { loaded <- c })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = cw.Start(ctx) }()

	current := func() *x509.Certificate {
		c, err := cw.GetCertificate(nil)
		require.NoError(t, err)
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		require.NoError(t, err)
		return leaf
	}
	require.True(t, current().Equal(first))
	time.Sleep(200 * time.Millisecond) // let the watches be added

	for i := 1; i <= 5; i++ {
		want := publish(t0.Add(time.Duration(i) * time.Hour))
		require.Eventually(t, func() bool { return current().Equal(want) }, 3*time.Second, 20*time.Millisecond,
			"version %d not loaded by the certwatcher within 3s", i)
	}
	// Exactly the published directories remain: one version.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var versions int
	for _, e := range entries {
		if len(e.Name()) > len(versionPrefix) && e.Name()[:len(versionPrefix)] == versionPrefix {
			versions++
		}
	}
	require.Equal(t, 1, versions)
}
