package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// DefaultRepository is the chart's default image.repository.
	DefaultRepository = "ghcr.io/flyte-admission/flyte-admission"
	// DefaultSourceURL is the org.opencontainers.image.source label.
	DefaultSourceURL = "https://github.com/flyte-admission/flyte-admission"
	// User is the image's default user (and the chart's runAsUser/runAsGroup).
	User = "65532:65532"
	// Entrypoint is where the binary lives in the image.
	Entrypoint = "/flyte-admission"

	mainPackage = "./cmd/flyte-admission"
	chartFile   = "charts/flyte-admission/Chart.yaml"
)

// Label keys of the image configuration (OCI image spec annotations).
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
)

// BuildOptions say what to build; zero values take the defaults of
// `image build`.
type BuildOptions struct {
	// Source is the repository root (the main module).
	Source string
	// OutDir receives oci/, the tarballs and digest (those are replaced;
	// nothing else in it is touched).
	OutDir string
	// Image is the reference the layout and tarballs are tagged with
	// (default DefaultRepository:Version).
	Image string
	// Version is linked into the binary and labelled (default: the chart's
	// appVersion, which is also the chart's default image tag).
	Version string
	// Revision is the source revision (default: git HEAD, "-dirty" added
	// when the work tree has changes).
	Revision string
	// Created is every timestamp of the image (default: SOURCE_DATE_EPOCH,
	// else the commit time of HEAD).
	Created time.Time
	// SourceURL is the org.opencontainers.image.source label.
	SourceURL string
	// Platforms are OS/ARCH pairs (linux only); the index lists them in
	// this order.
	Platforms []string
}

// Result says what Build wrote.
type Result struct {
	Ref               string
	Version, Revision string
	Created           time.Time
	// IndexDigest is the digest of the multi-platform index: what a
	// registry reports after `image push`.
	IndexDigest v1.Hash
	// Layout is the OCI layout directory.
	Layout    string
	Platforms []PlatformResult
}

// PlatformResult is one platform's image.
type PlatformResult struct {
	Platform string
	// Digest is the image manifest's digest.
	Digest v1.Hash
	// CompressedSize is the size of the manifest, config and compressed
	// layer: what a pull downloads.
	CompressedSize int64
	// BinarySize is the size of the server binary.
	BinarySize int64
	// Tarball is the docker-style tarball of this platform.
	Tarball string
}

// Build builds the binary for every platform and writes the images.
func Build(o BuildOptions) (*Result, error) {
	src, err := filepath.Abs(o.Source)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", o.Source, err)
	}
	if len(o.Platforms) == 0 {
		return nil, errors.New("no platforms")
	}
	if o.Version == "" {
		if o.Version, err = chartAppVersion(filepath.Join(src, chartFile)); err != nil {
			return nil, err
		}
	}
	if o.Image == "" {
		o.Image = DefaultRepository + ":" + o.Version
	}
	tag, err := name.NewTag(o.Image, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("-image %q: want REPOSITORY:TAG: %w", o.Image, err)
	}
	if o.SourceURL == "" {
		o.SourceURL = DefaultSourceURL
	}
	if o.Revision == "" || o.Created.IsZero() {
		rev, commitTime, err := gitInfo(src)
		if o.Created.IsZero() {
			o.Created, err = sourceDateEpoch(commitTime, err)
		}
		if err != nil {
			return nil, err
		}
		if o.Revision == "" {
			o.Revision = rev
		}
	}
	o.Created = o.Created.UTC().Truncate(time.Second)

	bins, err := os.MkdirTemp("", "flyte-admission-image-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(bins)

	res := &Result{Ref: tag.String(), Version: o.Version, Revision: o.Revision, Created: o.Created}
	var adds []mutate.IndexAddendum
	imgs := map[string]v1.Image{}
	for _, p := range o.Platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil || plat.OS != "linux" || plat.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want linux/ARCH", p)
		}
		bin := filepath.Join(bins, "flyte-admission-"+plat.Architecture)
		if err := goBuild(src, bin, *plat, o.Version, o.Revision); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("read the binary for %s: %w", p, err)
		}
		img, err := Image(data, ImageConfig{Platform: *plat, Created: o.Created, Version: o.Version, Revision: o.Revision, SourceURL: o.SourceURL})
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		size, err := pulledSize(img)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		imgs[p] = img
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
		res.Platforms = append(res.Platforms, PlatformResult{Platform: p, Digest: digest, CompressedSize: size, BinarySize: int64(len(data)),
			Tarball: filepath.Join(o.OutDir, "flyte-admission-"+strings.ReplaceAll(p, "/", "-")+".tar")})
	}
	idx := Index(adds, indexLabels(o.Version, o.Revision, o.SourceURL, o.Created))
	if res.IndexDigest, err = idx.Digest(); err != nil {
		return nil, fmt.Errorf("index digest: %w", err)
	}

	res.Layout = filepath.Join(o.OutDir, "oci")
	tarballs := map[string]v1.Image{}
	for _, p := range res.Platforms {
		tarballs[p.Tarball] = imgs[p.Platform]
	}
	if err := writeOutputs(o.OutDir, tag, idx, tarballs); err != nil {
		return nil, err
	}
	return res, nil
}

// writeOutputs replaces oci/, flyte-admission-*.tar and digest in outDir
// (nothing else there is touched): the OCI layout of idx tagged with tag,
// the docker-style tarballs (path to image) and the index digest.
func writeOutputs(outDir string, tag name.Tag, idx v1.ImageIndex, tarballs map[string]v1.Image) error {
	layoutDir := filepath.Join(outDir, "oci")
	old, _ := filepath.Glob(filepath.Join(outDir, "flyte-admission-*.tar"))
	for _, p := range append(old, layoutDir, filepath.Join(outDir, "digest")) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove the previous %s: %w", p, err)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", layoutDir, err)
	}
	// containerd names an image imported from an OCI archive after
	// io.containerd.image.name; the OCI spec's ref.name is the tag.
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          tag.String(),
		"org.opencontainers.image.ref.name": tag.TagStr(),
	})); err != nil {
		return fmt.Errorf("OCI layout %s: %w", layoutDir, err)
	}
	paths := make([]string, 0, len(tarballs))
	for p := range tarballs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := tarball.WriteToFile(p, tag, tarballs[p]); err != nil {
			return fmt.Errorf("tarball %s: %w", p, err)
		}
	}
	digest, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("index digest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "digest"), []byte(digest.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("write the digest: %w", err)
	}
	return nil
}

// ImageConfig describes one platform's image.
type ImageConfig struct {
	Platform                     v1.Platform
	Created                      time.Time
	Version, Revision, SourceURL string
}

// Image is the single-layer image of the binary for one platform: OCI media
// types, the entrypoint, user 65532, the labels, and Created as its only
// timestamp.
func Image(binary []byte, c ImageConfig) (v1.Image, error) {
	layerTar, err := RootFS(binary, c.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	created := v1.Time{Time: c.Created}
	cfg := &v1.ConfigFile{
		Architecture: c.Platform.Architecture,
		OS:           c.Platform.OS,
		Variant:      c.Platform.Variant,
		Created:      created,
		Config: v1.Config{
			Entrypoint: []string{Entrypoint},
			User:       User,
			WorkingDir: "/",
			Labels:     indexLabels(c.Version, c.Revision, c.SourceURL, c.Created),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: fmt.Sprintf("hack/image: go build -trimpath (%s, CGO_ENABLED=0, GOOS=%s GOARCH=%s) %s", runtime.Version(), c.Platform.OS, c.Platform.Architecture, mainPackage),
			Comment:   "flyte-admission " + c.Version + " at " + c.Revision,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append the layer: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// Index is the OCI image index of the platform images, with the labels as
// annotations (registries show an index's annotations).
func Index(adds []mutate.IndexAddendum, annotations map[string]string) v1.ImageIndex {
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	return mutate.Annotations(idx, annotations).(v1.ImageIndex)
}

func indexLabels(version, revision, source string, created time.Time) map[string]string {
	return map[string]string{
		LabelSource:   source,
		LabelRevision: revision,
		LabelVersion:  version,
		LabelCreated:  created.UTC().Format(time.RFC3339),
		LabelTitle:    "flyte-admission",
	}
}

// passwd and group name root and the image's user, so that tools that look
// the user up (and the kubelet's runAsNonRoot check, which reads the numeric
// USER) find it.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// RootFS is the layer's uncompressed tar: the binary as Entrypoint, etc/passwd
// and etc/group, and an empty tmp/ (mode 1777), with sorted entries owned by
// root and mtime as every timestamp. No shell, no CA certificates: the
// server talks only to the apiserver, with the ServiceAccount's CA.
func RootFS(binary []byte, mtime time.Time) ([]byte, error) {
	type entry struct {
		hdr  tar.Header
		data []byte
	}
	file := func(name string, mode int64, data []byte) entry {
		return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}, data}
	}
	dir := func(name string, mode int64) entry {
		return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
	}
	entries := []entry{
		file(strings.TrimPrefix(Entrypoint, "/"), 0o755, binary),
		dir("etc/", 0o755),
		file("etc/passwd", 0o644, []byte(passwd)),
		file("etc/group", 0o644, []byte(group)),
		dir("tmp/", 0o1777),
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime = mtime.UTC().Truncate(time.Second)
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", h.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// goBuild cross-compiles the server for one platform. The environment is
// pinned (no cgo, baseline GOAMD64/GOARM64, no GOFLAGS or GOEXPERIMENT from
// the caller) so that the binary depends only on the source and the Go
// toolchain. -buildvcs=false: Go stamps VCS information into a binary
// built in a git clone but not in a git worktree or a source archive, so the
// same commit would give different binaries; the revision is linked in with
// -X instead, the same everywhere.
func goBuild(src, out string, p v1.Platform, version, revision string) error {
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.revision=%s", version, revision)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, mainPackage)
	cmd.Dir = src
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS", "GOEXPERIMENT", "GOOS", "GOARCH", "GOARM64", "GOAMD64", "CGO_ENABLED", "GOWORK":
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOAMD64=v1", "GOARM64=v8.0", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w\n%s", mainPackage, p.OS, p.Architecture, err, stderr.String())
	}
	return nil
}

// gitInfo returns HEAD's commit ("-dirty" added when the work tree differs
// from it) and its commit time.
func gitInfo(dir string) (string, time.Time, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s in %s: %w: %s (pass -revision, and SOURCE_DATE_EPOCH for the time)", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	rev, err := git("rev-parse", "HEAD")
	if err != nil {
		return "", time.Time{}, err
	}
	ct, err := git("log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return "", time.Time{}, err
	}
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("commit time %q of %s: %w", ct, rev, err)
	}
	status, err := git("status", "--porcelain")
	if err != nil {
		return "", time.Time{}, err
	}
	if status != "" {
		rev += "-dirty"
	}
	return rev, time.Unix(secs, 0), nil
}

// sourceDateEpoch is $SOURCE_DATE_EPOCH when set (the reproducible-builds
// convention), else the commit time git gave (or git's error).
func sourceDateEpoch(commit time.Time, gitErr error) (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return commit, gitErr
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970: %w", v, err)
	}
	return time.Unix(secs, 0), nil
}

// chartAppVersion reads appVersion from Chart.yaml: the chart's default image
// tag, so that `make image` produces the image the chart installs by default.
func chartAppVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read the chart's appVersion: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "appVersion:"); ok {
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			if v == "" {
				break
			}
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return "", fmt.Errorf("%s: no appVersion", path)
}

// pulledSize is what pulling the image downloads: manifest, config and the
// compressed layers.
func pulledSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
