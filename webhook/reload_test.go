package webhook

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func parsePolicies(data []byte) (*policy.Set, error) { return policy.Parse(data) }

func TestFileSourceReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policies.yaml")
	require.NoError(t, os.WriteFile(path, []byte("forbid-privileged: {}"), 0o600))
	src, err := NewFileSource("policies", path, parsePolicies)
	require.NoError(t, err)
	require.Equal(t, []string{"invariants", "forbid-privileged"}, src.Current().Names())
	require.NoError(t, src.Err())
	require.False(t, src.Reload(), "unchanged file")

	errorsBefore := testutil.ToFloat64(configReloadErrors.WithLabelValues("policies"))
	writeAtomic(t, path, []byte("forbid-privileged: {mode: nope}"))
	require.False(t, src.Reload())
	require.Equal(t, []string{"invariants", "forbid-privileged"}, src.Current().Names(), "the previous policies stay in use")
	require.ErrorContains(t, src.Err(), "policies reload failed, still using the previous policies")
	require.ErrorContains(t, src.Err(), "forbid-privileged.mode: unknown mode")
	require.False(t, src.Reload(), "the same bad file is reported once")
	require.Equal(t, errorsBefore+1, testutil.ToFloat64(configReloadErrors.WithLabelValues("policies")))
	check := src.Check()
	require.True(t, check.Informational)
	require.Error(t, check.Check())

	writeAtomic(t, path, []byte("forbid-host-path: {}"))
	require.True(t, src.Reload())
	require.Equal(t, []string{"invariants", "forbid-host-path"}, src.Current().Names())
	require.NoError(t, src.Err())

	require.NoError(t, os.Remove(path))
	require.False(t, src.Reload())
	require.ErrorContains(t, src.Err(), "no such file")
	require.Equal(t, []string{"invariants", "forbid-host-path"}, src.Current().Names())
}

func TestFileSourcePolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("plugins: {k8s: {default-labels: {a: one}}}"), 0o600))
	src, err := NewFileSource("config", path, config.Parse)
	require.NoError(t, err)
	src.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Start(ctx) }()
	gen := src.Current().Generation
	writeAtomic(t, path, []byte("plugins: {k8s: {default-labels: {a: two}}}"))
	eventually(t, "reload", func() bool { return src.Current().Generation != gen })
	require.Equal(t, "two", src.Current().Plugins.K8s.DefaultLabels["a"])
	cancel()
	require.NoError(t, <-done)
}

func TestFileSourceInitialErrors(t *testing.T) {
	_, err := NewFileSource("config", filepath.Join(t.TempDir(), "missing.yaml"), config.Parse)
	require.ErrorContains(t, err, "config: open")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("plugins: {k8s: {nope: 1}}"), 0o600))
	_, err = NewFileSource("config", bad, config.Parse)
	require.ErrorContains(t, err, "config "+bad+": unknown key")

	s := StaticSource("config", config.Default())
	require.NotNil(t, s.Current())
	require.NoError(t, s.Start(context.Background()), "a static source returns at once")
}

// TestFileSourceWaitsForASettledFile: contents that change between two reads
// a moment apart (a file being rewritten in place) are not taken; the same
// contents read twice are.
func TestFileSourceWaitsForASettledFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policies.yaml")
	require.NoError(t, os.WriteFile(path, []byte("a"), 0o600))
	s, err := NewFileSource("test", path, func(b []byte) (*string, error) { v := string(b); return &v, nil })
	require.NoError(t, err)
	s.Settle = time.Second

	// Rewritten during the settle time: not taken.
	require.NoError(t, os.WriteFile(path, []byte(""), 0o600))
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		_ = os.WriteFile(path, []byte("b"), 0o600)
	}()
	require.False(t, s.Reload(), "a file that changed while settling is not taken")
	<-done
	require.Equal(t, "a", *s.Current())

	// Stable now: taken.
	require.True(t, s.Reload())
	require.Equal(t, "b", *s.Current())
}
