package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// errConflict means the store changed since it was read (or was created
// concurrently): read it again and retry.
var errConflict = errors.New("store changed concurrently")

// snapshot is one read of the store.
type snapshot struct {
	found   bool
	data    map[string][]byte
	version string // resourceVersion, or content hash in local mode
	secret  *corev1.Secret
}

// store keeps the CA and serving certificate shared by all replicas.
type store interface {
	load(ctx context.Context) (*snapshot, error)
	// create stores data where nothing was found; errConflict if it exists.
	create(ctx context.Context, data map[string][]byte) error
	// update replaces the managed keys of the snapshot's object with data
	// (managed keys absent from data are deleted); errConflict if the object
	// changed since the snapshot.
	update(ctx context.Context, snap *snapshot, data map[string][]byte) error
	String() string
}

// ---- Secret ----

type secretStore struct {
	c      client.Client
	key    client.ObjectKey
	labels map[string]string
}

func (s *secretStore) String() string { return "secret " + s.key.String() }

func (s *secretStore) load(ctx context.Context) (*snapshot, error) {
	sec := &corev1.Secret{}
	if err := s.c.Get(ctx, s.key, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return &snapshot{}, nil
		}
		return nil, fmt.Errorf("get %s: %w", s, err)
	}
	return &snapshot{found: true, data: sec.Data, version: sec.ResourceVersion, secret: sec}, nil
}

func (s *secretStore) create(ctx context.Context, data map[string][]byte) error {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.key.Name, Namespace: s.key.Namespace, Labels: maps.Clone(s.labels)},
		Type:       corev1.SecretTypeTLS,
		Data:       data,
	}
	if err := s.c.Create(ctx, sec); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return errConflict
		}
		return fmt.Errorf("create %s: %w", s, err)
	}
	return nil
}

func (s *secretStore) update(ctx context.Context, snap *snapshot, data map[string][]byte) error {
	sec := snap.secret.DeepCopy() // carries the resourceVersion: optimistic concurrency
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	for _, k := range managedKeys {
		delete(sec.Data, k)
	}
	maps.Copy(sec.Data, data)
	if sec.Labels == nil {
		sec.Labels = map[string]string{}
	}
	for k, v := range s.labels {
		if _, ok := sec.Labels[k]; !ok {
			sec.Labels[k] = v
		}
	}
	if err := s.c.Update(ctx, sec); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return errConflict
		}
		return fmt.Errorf("update %s: %w", s, err)
	}
	return nil
}

// ---- local directory ----

// dirStore keeps the managed keys as files of a directory, for runs without
// a cluster. Concurrent processes are serialized with a lock file; version is
// a hash of the content, checked under the lock.
type dirStore struct {
	dir string
}

func (d *dirStore) String() string { return "directory " + d.dir }

func (d *dirStore) read() (map[string][]byte, error) {
	data := map[string][]byte{}
	for _, k := range managedKeys {
		b, err := os.ReadFile(filepath.Join(d.dir, k))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		data[k] = b
	}
	return data, nil
}

func contentVersion(data map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (d *dirStore) load(context.Context) (*snapshot, error) {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	unlock, err := lockDir(d.dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	data, err := d.read()
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return &snapshot{version: contentVersion(data)}, nil
	}
	return &snapshot{found: true, data: data, version: contentVersion(data)}, nil
}

func (d *dirStore) create(ctx context.Context, data map[string][]byte) error {
	return d.update(ctx, &snapshot{version: contentVersion(nil)}, data)
}

func (d *dirStore) update(_ context.Context, snap *snapshot, data map[string][]byte) error {
	unlock, err := lockDir(d.dir)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := d.read()
	if err != nil {
		return err
	}
	if contentVersion(cur) != snap.version {
		return errConflict
	}
	for _, k := range managedKeys {
		p := filepath.Join(d.dir, k)
		v, ok := data[k]
		if !ok {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			continue
		}
		if bytes.Equal(cur[k], v) {
			continue
		}
		if err := writeFileAtomic(p, v, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path and renames it
// over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
