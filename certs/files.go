package certs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// File names in the cert dir: controller-runtime webhook.Server defaults.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAFile   = "ca.crt"
)

const (
	dataLink      = "..data"
	versionPrefix = "..certs_"
)

// writeCertDir publishes files in dir the way the kubelet publishes a Secret
// volume, so that a reader never sees a certificate with the key of another:
//
//	dir/..certs_XXXX/{tls.crt,tls.key,ca.crt}   new version, fully written
//	dir/..data -> ..certs_XXXX                  swapped with one rename
//	dir/tls.crt -> ..data/tls.crt               (stable symlinks)
//
// The old version directory is removed afterwards; its removal is what wakes
// controller-runtime's certwatcher (which also polls every 10s). Nothing is
// written when the published content is already equal.
func writeCertDir(dir string, files map[string][]byte, keyFiles map[string]bool) (changed bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	same := true
	for name, content := range files {
		cur, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(cur, content) {
			same = false
			break
		}
	}
	if same && linksInPlace(dir, files) {
		return false, nil
	}

	vdir, err := os.MkdirTemp(dir, versionPrefix)
	if err != nil {
		return false, err
	}
	if err := os.Chmod(vdir, 0o755); err != nil {
		return false, err
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if keyFiles[name] {
			mode = 0o600
		}
		if err := writeFileAtomic(filepath.Join(vdir, name), content, mode); err != nil {
			_ = os.RemoveAll(vdir)
			return false, err
		}
	}
	if err := replaceSymlink(filepath.Base(vdir), filepath.Join(dir, dataLink)); err != nil {
		_ = os.RemoveAll(vdir)
		return false, err
	}
	for name := range files {
		target := filepath.Join(dataLink, name)
		p := filepath.Join(dir, name)
		if cur, err := os.Readlink(p); err == nil && cur == target {
			continue
		}
		if err := replaceSymlink(target, p); err != nil {
			return true, err
		}
	}
	// Remove every older version (normally just the previous one).
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true, err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), versionPrefix) && e.Name() != filepath.Base(vdir) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return true, errors.Join(errs...)
}

func linksInPlace(dir string, files map[string][]byte) bool {
	for name := range files {
		cur, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || cur != filepath.Join(dataLink, name) {
			return false
		}
	}
	return true
}

// replaceSymlink atomically points link at target (create + rename).
func replaceSymlink(target, link string) error {
	tmp := fmt.Sprintf("%s.tmp-%d-%d", link, os.Getpid(), rand.Uint64())
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
