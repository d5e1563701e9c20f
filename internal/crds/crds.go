// Package crds locates the operators' real CustomResourceDefinitions in the Go
// module cache.
//
// The CRDs are not copied into this repository: they are read from the exact
// versions of the operator modules that go.mod requires (each plugin names its
// operator's module and files as a Source; plugins/builtin lists them), so
// tests and demos always run against the schemas of the operator versions the
// code is compiled with.
//
// Module directories are found with `go list -m` run in the main module's root
// directory, which Files finds by walking up from the working directory to the
// nearest go.mod (FilesFrom takes the start directory explicitly). A module
// that is required but not yet in the module cache is fetched with
// `go mod download -json module@version`. The go command must be on PATH.
package crds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Source is one operator module and the CRD files it ships.
type Source struct {
	// Module is the module path, as go.mod requires it.
	Module string
	// Dir is the directory of the CRD YAML inside the module.
	Dir string
	// Files are the file names inside Dir.
	Files []string
}

// Files returns the absolute paths of the CRD YAML files of sources, in
// order, taken from the operator modules at the versions the main module
// requires. The main module is the one whose go.mod is nearest to the working
// directory (walking up); see FilesFrom.
func Files(sources []Source) ([]string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("locate CRDs: working directory: %w", err)
	}
	return FilesFrom(wd, sources)
}

// FilesFrom is Files with the main module found by walking up from dir
// instead of the working directory.
func FilesFrom(dir string, sources []Source) ([]string, error) {
	root, err := moduleRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("locate CRDs: %w", err)
	}
	var paths []string
	for _, s := range sources {
		modDir, err := moduleDir(root, s.Module)
		if err != nil {
			return nil, fmt.Errorf("locate CRDs of %s: %w", s.Module, err)
		}
		for _, f := range s.Files {
			p := filepath.Join(modDir, filepath.FromSlash(s.Dir), f)
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("locate CRDs of %s: CRD file %s/%s missing from %s: %w",
					s.Module, s.Dir, f, modDir, err)
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// moduleRoot walks up from dir to the nearest directory holding a go.mod.
func moduleRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("absolute path of %s: %w", dir, err)
	}
	for {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod in %s or any parent directory", dir)
		}
		d = parent
	}
}

// moduleDir returns the module-cache directory of mod at the version the main
// module in root requires, downloading the module if it is not cached yet.
func moduleDir(root, mod string) (string, error) {
	out, err := goCmd(root, "list", "-m", "-f", "{{.Version}}\t{{.Dir}}", mod)
	if err != nil {
		return "", fmt.Errorf("is it required in %s/go.mod? %w", root, err)
	}
	version, dir, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if dir != "" {
		return dir, nil
	}
	if version == "" {
		return "", fmt.Errorf("go list -m %s in %s reported no version (replaced by a directory?)", mod, root)
	}
	// Required but not in the module cache yet (e.g. a fresh machine).
	out, err = goCmd(root, "mod", "download", "-json", mod+"@"+version)
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil && err == nil {
		err = fmt.Errorf("decode go mod download output: %w", jerr)
	}
	if info.Error != "" {
		err = errors.Join(err, errors.New(info.Error))
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", mod, version, err)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s reported no directory", mod, version)
	}
	return info.Dir, nil
}

// goCmd runs the go command in dir and returns its stdout; the error carries
// its stderr.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// Read-only: never rewrite go.mod/go.sum, and keep a caller's GOFLAGS
	// (-mod=vendor) or go.work from changing which directory is reported.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
