package webhook

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// FileSource holds the parsed contents of a file and re-reads it when it
// changes (polling its contents, which also follows ConfigMap mounts'
// symlink swaps). A file that no longer parses keeps the previous contents
// in use; the failure is logged, counted
// (flyte_admission_config_reload_errors_total{source}) and shown by /readyz
// (without failing it: the webhook keeps working on the last good file).
type FileSource[T any] struct {
	// Name labels the source in logs, metrics and /readyz (config, policies).
	Name string
	Path string
	// Interval is the poll interval (default 2s).
	Interval time.Duration
	// Settle is how long a changed file must stay the same before it is
	// parsed (default 100ms): a file rewritten in place can be read half
	// written, e.g. empty between truncation and write, which would parse as
	// the defaults.
	Settle time.Duration
	Log    logr.Logger

	parse   func([]byte) (*T, error)
	cur     atomic.Pointer[T]
	lastErr atomic.Pointer[error]
	sum     [sha256.Size]byte
}

// NewFileSource loads path (an error if it cannot be read or parsed). An
// empty path holds empty, parse(nil)'s result, and never reloads.
func NewFileSource[T any](name, path string, parse func([]byte) (*T, error)) (*FileSource[T], error) {
	s := &FileSource[T]{Name: name, Path: path, Interval: 2 * time.Second, parse: parse}
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	v, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, path, err)
	}
	s.cur.Store(v)
	s.sum = sha256.Sum256(data)
	return s, nil
}

// StaticSource holds v and never reloads.
func StaticSource[T any](name string, v *T) *FileSource[T] {
	s := &FileSource[T]{Name: name}
	s.cur.Store(v)
	return s
}

// Current returns the contents in use.
func (s *FileSource[T]) Current() *T { return s.cur.Load() }

// Err returns why the file on disk is not the one in use, or nil.
func (s *FileSource[T]) Err() error {
	if e := s.lastErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Start implements Starter: it polls the file until ctx ends.
func (s *FileSource[T]) Start(ctx context.Context) error {
	if s.Path == "" {
		return nil
	}
	iv := s.Interval
	if iv <= 0 {
		iv = 2 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Reload()
		}
	}
}

// Reload re-reads the file now; it reports whether new contents were taken
// into use.
func (s *FileSource[T]) Reload() bool {
	data, err := os.ReadFile(s.Path)
	if err != nil {
		s.fail(fmt.Errorf("read %s: %w", s.Path, err), [sha256.Size]byte{1})
		return false
	}
	sum := sha256.Sum256(data)
	if sum == s.sum {
		return false
	}
	settle := s.Settle
	if settle <= 0 {
		settle = 100 * time.Millisecond
	}
	time.Sleep(settle)
	if again, err := os.ReadFile(s.Path); err != nil || sha256.Sum256(again) != sum {
		return false // still changing: the next poll looks again
	}
	v, err := s.parse(data)
	if err != nil {
		s.fail(fmt.Errorf("%s: %w", s.Path, err), sum)
		return false
	}
	s.sum = sum
	s.cur.Store(v)
	s.lastErr.Store(nil)
	s.Log.Info("reloaded", "source", s.Name, "path", s.Path)
	return true
}

// fail records a failed reload once per distinct file state.
func (s *FileSource[T]) fail(err error, sum [sha256.Size]byte) {
	if sum == s.sum {
		return
	}
	s.sum = sum
	err = fmt.Errorf("%s reload failed, still using the previous %s: %w", s.Name, s.Name, err)
	s.lastErr.Store(&err)
	configReloadErrors.WithLabelValues(s.Name).Inc()
	s.Log.Error(err, "reload failed", "source", s.Name, "path", s.Path)
}

// Check is an informational /readyz entry showing a failed reload.
func (s *FileSource[T]) Check() Check {
	return Check{Name: s.Name, Informational: true, Check: s.Err}
}
