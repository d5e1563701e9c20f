package skeleton

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File is one file of a package: its name in the archive (or on disk) and
// its bytes.
type File struct {
	Name string
	Data []byte
}

// Limits of what reading a package may cost: a TaskSpec is a few KiB, and
// a compressed archive must not stand for an unbounded amount of data.
const (
	// MaxFileBytes bounds one file of a package.
	MaxFileBytes = 4 << 20
	// MaxPackageBytes bounds all files of a package together, uncompressed.
	MaxPackageBytes = 64 << 20
	// MaxPackageFiles bounds the number of files in a package.
	MaxPackageFiles = 10000
)

// Read reads what `pyflyte package` or `pyflyte serialize` wrote: a tarball
// (.tgz, .tar.gz or .tar; gzip is recognised by its magic bytes), a
// directory of serialized files, or one serialized .pb file. Files come back
// sorted by name, as flytectl registers them.
func Read(path string) ([]File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return readDir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	if magic, _ := r.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return readTar(path, gz)
	}
	if strings.HasSuffix(path, ".tar") {
		return readTar(path, r)
	}
	data, err := readLimited(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []File{{Name: filepath.Base(path), Data: data}}, nil
}

func readDir(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []File
	total := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if len(files) == MaxPackageFiles {
			return nil, fmt.Errorf("%s: more than %d files", dir, MaxPackageFiles)
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		data, err := readLimited(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, e.Name()), err)
		}
		if total += len(data); total > MaxPackageBytes {
			return nil, fmt.Errorf("%s: more than %d bytes in all", dir, MaxPackageBytes)
		}
		files = append(files, File{Name: e.Name(), Data: data})
	}
	return files, nil // os.ReadDir sorts by name
}

func readTar(path string, r io.Reader) ([]File, error) {
	tr := tar.NewReader(r)
	var files []File
	total := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read archive: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if len(files) == MaxPackageFiles {
			return nil, fmt.Errorf("%s: more than %d files", path, MaxPackageFiles)
		}
		data, err := readLimited(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
		}
		if total += len(data); total > MaxPackageBytes {
			return nil, fmt.Errorf("%s: more than %d bytes in all", path, MaxPackageBytes)
		}
		files = append(files, File{Name: h.Name, Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// readLimited reads r whole, refusing more than MaxFileBytes.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("more than %d bytes", MaxFileBytes)
	}
	return data, nil
}
