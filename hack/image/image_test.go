package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"
)

var (
	commitTime = time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	amd64      = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64      = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	fakeBinary = []byte("\x7fELF not really a server")
)

func testConfig(p v1.Platform) ImageConfig {
	return ImageConfig{Platform: p, Created: commitTime, Version: "1.2.3", Revision: "0123abcd", SourceURL: DefaultSourceURL}
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, r io.Reader) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, tarEntry{h, data})
	}
}

// layerEntries reads the entries of the image's only layer.
func layerEntries(t *testing.T, img v1.Image) []tarEntry {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1, "a single layer")
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	return readTar(t, rc)
}

func TestRootFS(t *testing.T) {
	data, err := RootFS(fakeBinary, commitTime.Add(123*time.Millisecond))
	require.NoError(t, err)
	entries := readTar(t, bytes.NewReader(data))
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		require.Equal(t, commitTime, e.hdr.ModTime.UTC(), "%s: every mtime is the commit time, whole seconds", e.hdr.Name)
		require.Zero(t, e.hdr.Uid, e.hdr.Name)
		require.Zero(t, e.hdr.Gid, e.hdr.Name)
		require.Empty(t, e.hdr.Uname+e.hdr.Gname, e.hdr.Name)
		require.NotContains(t, e.hdr.Name, "sh", "no shell")
	}
	require.Equal(t, []string{"etc/", "etc/group", "etc/passwd", "flyte-admission", "tmp/"}, names, "sorted, and nothing else")
	byName := map[string]tarEntry{}
	for _, e := range entries {
		byName[e.hdr.Name] = e
	}
	require.Equal(t, fakeBinary, byName["flyte-admission"].data)
	require.EqualValues(t, 0o755, byName["flyte-admission"].hdr.Mode, "executable, owned by root: the user cannot change it")
	require.EqualValues(t, 0o1777, byName["tmp/"].hdr.Mode)
	require.Contains(t, string(byName["etc/passwd"].data), "nonroot:x:65532:65532:")
	require.Contains(t, string(byName["etc/group"].data), "nonroot:x:65532:")

	again, err := RootFS(fakeBinary, commitTime)
	require.NoError(t, err)
	require.Equal(t, data, again, "the same binary and time give the same bytes")
}

func TestImage(t *testing.T) {
	for _, p := range []v1.Platform{amd64, arm64} {
		t.Run(p.String(), func(t *testing.T) {
			img, err := Image(fakeBinary, testConfig(p))
			require.NoError(t, err)
			m, err := img.Manifest()
			require.NoError(t, err)
			require.Equal(t, types.OCIManifestSchema1, m.MediaType)
			require.Equal(t, types.OCIConfigJSON, m.Config.MediaType)
			require.Len(t, m.Layers, 1)
			require.Equal(t, types.OCILayer, m.Layers[0].MediaType)

			cfg, err := img.ConfigFile()
			require.NoError(t, err)
			require.Equal(t, p.OS, cfg.OS)
			require.Equal(t, p.Architecture, cfg.Architecture)
			require.Equal(t, p.Variant, cfg.Variant)
			require.Equal(t, commitTime, cfg.Created.UTC())
			require.Equal(t, []string{"/flyte-admission"}, cfg.Config.Entrypoint)
			require.Empty(t, cfg.Config.Cmd)
			require.Equal(t, "65532:65532", cfg.Config.User, "numeric, so that runAsNonRoot can check it")
			require.Equal(t, map[string]string{
				"org.opencontainers.image.source":   "https://github.com/flyte-admission/flyte-admission",
				"org.opencontainers.image.revision": "0123abcd",
				"org.opencontainers.image.version":  "1.2.3",
				"org.opencontainers.image.created":  "2026-05-04T03:02:01Z",
				"org.opencontainers.image.title":    "flyte-admission",
			}, cfg.Config.Labels)
			require.Len(t, cfg.History, 1)
			require.Equal(t, commitTime, cfg.History[0].Created.UTC())
			require.Len(t, cfg.RootFS.DiffIDs, 1)
			require.Len(t, layerEntries(t, img), 5)
		})
	}

	t.Run("the digest depends only on the inputs", func(t *testing.T) {
		digest := func(binary []byte, c ImageConfig) v1.Hash {
			img, err := Image(binary, c)
			require.NoError(t, err)
			d, err := img.Digest()
			require.NoError(t, err)
			return d
		}
		base := digest(fakeBinary, testConfig(amd64))
		require.Equal(t, base, digest(bytes.Clone(fakeBinary), testConfig(amd64)))
		later := testConfig(amd64)
		later.Created = later.Created.Add(time.Second)
		require.NotEqual(t, base, digest(fakeBinary, later), "the commit time is in the image")
		require.NotEqual(t, base, digest(append(bytes.Clone(fakeBinary), 0), testConfig(amd64)))
		require.NotEqual(t, base, digest(fakeBinary, testConfig(arm64)))
	})
}

// writeFakeImage writes the outputs of an index of both platforms built from
// fakeBinary into dir.
func writeFakeImage(t *testing.T, dir, ref string) v1.Hash {
	t.Helper()
	tag, err := name.NewTag(ref)
	require.NoError(t, err)
	var adds []mutate.IndexAddendum
	tarballs := map[string]v1.Image{}
	for _, p := range []v1.Platform{amd64, arm64} {
		img, err := Image(fakeBinary, testConfig(p))
		require.NoError(t, err)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		tarballs[filepath.Join(dir, "flyte-admission-linux-"+p.Architecture+".tar")] = img
	}
	idx := Index(adds, indexLabels("1.2.3", "0123abcd", DefaultSourceURL, commitTime))
	require.NoError(t, writeOutputs(dir, tag, idx, tarballs))
	d, err := idx.Digest()
	require.NoError(t, err)
	return d
}

func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	const ref = "ghcr.io/flyte-admission/flyte-admission:1.2.3"
	// A stale tarball of a platform no longer built is removed.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flyte-admission-linux-s390x.tar"), []byte("old"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keep-me"), []byte("mine"), 0o644))
	want := writeFakeImage(t, dir, ref)

	files, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	for i := range files {
		files[i] = filepath.Base(files[i])
	}
	require.ElementsMatch(t, []string{"digest", "oci", "flyte-admission-linux-amd64.tar", "flyte-admission-linux-arm64.tar", "keep-me"}, files)
	digest, err := os.ReadFile(filepath.Join(dir, "digest"))
	require.NoError(t, err)
	require.Equal(t, want.String()+"\n", string(digest))

	// The OCI layout: one index, named for containerd and by its tag.
	lp, err := layout.FromPath(filepath.Join(dir, "oci"))
	require.NoError(t, err)
	outer, err := lp.ImageIndex()
	require.NoError(t, err)
	om, err := outer.IndexManifest()
	require.NoError(t, err)
	require.Len(t, om.Manifests, 1)
	require.Equal(t, want, om.Manifests[0].Digest)
	require.Equal(t, map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": "1.2.3"}, om.Manifests[0].Annotations)
	idx, err := outer.ImageIndex(want)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Equal(t, types.OCIImageIndex, im.MediaType)
	require.Equal(t, "0123abcd", im.Annotations[LabelRevision])
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.String())
	}
	require.Equal(t, []string{"linux/amd64", "linux/arm64/v8"}, plats)

	// Each docker-style tarball holds that platform's image under the tag.
	for _, arch := range []string{"amd64", "arm64"} {
		path := filepath.Join(dir, "flyte-admission-linux-"+arch+".tar")
		f, err := os.Open(path)
		require.NoError(t, err)
		var manifestJSON string
		for _, e := range readTar(t, f) {
			if e.hdr.Name == "manifest.json" {
				manifestJSON = string(e.data)
			}
		}
		require.NoError(t, f.Close())
		require.Contains(t, manifestJSON, `"RepoTags":["`+ref+`"]`)
		tag, err := name.NewTag(ref)
		require.NoError(t, err)
		img, err := tarball.ImageFromPath(path, &tag)
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		require.Equal(t, arch, cfg.Architecture)
		require.Equal(t, User, cfg.Config.User)
		require.Equal(t, fakeBinary, layerEntries(t, img)[3].data)
	}
}

// TestPushKeepsTheDigest: `image push` to a registry (an in-memory one)
// serves the index under the tag with the digest that out/image/digest
// names, and each platform's image from it.
func TestPushKeepsTheDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	want := writeFakeImage(t, dir, "ghcr.io/flyte-admission/flyte-admission:1.2.3")

	ref := strings.TrimPrefix(srv.URL, "http://") + "/team/flyte-admission:1.2.3"
	got, err := Push(filepath.Join(dir, "oci"), ref, true)
	require.NoError(t, err)
	require.Equal(t, want, got)

	tag, err := name.NewTag(ref, name.Insecure)
	require.NoError(t, err)
	desc, err := remote.Get(tag)
	require.NoError(t, err)
	require.Equal(t, want, desc.Digest, "the registry serves the layout's digest")
	require.Equal(t, types.OCIImageIndex, desc.MediaType)
	img, err := remote.Image(tag, remote.WithPlatform(arm64))
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, "arm64", cfg.Architecture)

	_, err = Push(filepath.Join(dir, "missing"), ref, true)
	require.ErrorContains(t, err, "make image")
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestBuildIsReproducible builds the server's image from this repository
// twice (for the machine's platform, into two directories) and compares:
// the same commit and toolchain give the same index digest and the same
// tarball bytes. It then runs the binary from the image.
func TestBuildIsReproducible(t *testing.T) {
	platform := "linux/" + runtime.GOARCH
	var results []*Result
	for i := range 2 {
		res, err := Build(BuildOptions{Source: "../..", OutDir: filepath.Join(t.TempDir(), "image"), Platforms: []string{platform}})
		require.NoError(t, err, "build %d", i+1)
		results = append(results, res)
		t.Logf("build %d: index %s, %s manifest %s, pulled size %d bytes, binary %d bytes", i+1,
			res.IndexDigest, platform, res.Platforms[0].Digest, res.Platforms[0].CompressedSize, res.Platforms[0].BinarySize)
	}
	a, b := results[0], results[1]
	require.Equal(t, a.IndexDigest, b.IndexDigest, "two builds of the same commit differ")
	require.Equal(t, a.Platforms[0].Digest, b.Platforms[0].Digest)
	require.Equal(t, fileSHA256(t, a.Platforms[0].Tarball), fileSHA256(t, b.Platforms[0].Tarball), "the tarballs differ")

	chartVersion, err := chartAppVersion("../../" + chartFile)
	require.NoError(t, err)
	require.Equal(t, DefaultRepository+":"+chartVersion, a.Ref, "by default the image is the one the chart installs")
	head, commit, err := gitInfo("../..")
	require.NoError(t, err)
	require.Equal(t, head, a.Revision)
	require.Equal(t, commit.UTC(), a.Created)

	// The binary in the image: static, trimmed, stamped.
	tag, err := name.NewTag(a.Ref)
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(a.Platforms[0].Tarball, &tag)
	require.NoError(t, err)
	var bin []byte
	for _, e := range layerEntries(t, img) {
		if e.hdr.Name == "flyte-admission" {
			bin = e.data
		}
	}
	require.NotEmpty(t, bin)
	path := filepath.Join(t.TempDir(), "flyte-admission")
	require.NoError(t, os.WriteFile(path, bin, 0o755))
	info, err := buildinfo.ReadFile(path)
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	require.Equal(t, "0", settings["CGO_ENABLED"], "static")
	require.Equal(t, "true", settings["-trimpath"])
	require.NotContains(t, settings, "vcs.revision", "no VCS stamp: it depends on the checkout (clone or worktree), not on the commit")
	out, err := exec.Command(path, "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "flyte-admission version "+chartVersion+" ("+a.Revision+")\n", string(out))
}
