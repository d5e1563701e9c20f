// Command image builds the flyte-admission server's OCI image from the
// repository with no container daemon (go-containerregistry), and pushes it.
//
//	image build -src REPO -out out/image -image ghcr.io/flyte-admission/flyte-admission:0.1.0
//	image push  -layout out/image/oci -image registry.example.com/flyte-admission:0.1.0
//
// `make image` and `make image-push IMAGE=...` run it. It is its own module so
// that the server's go.mod never requires go-containerregistry.
//
// build cross-compiles a static binary per platform (CGO_ENABLED=0, -trimpath,
// the version and revision linked in) and writes, for each, a single-layer
// image: the binary as /flyte-admission (the entrypoint), /etc/passwd and
// /etc/group naming user 65532 (the default user), an empty /tmp, and no
// shell. Every timestamp is the commit's time and the layer's entries are
// sorted, so the same commit and Go toolchain give the same digest. Outputs:
// an OCI layout with the multi-platform index (oci/), a docker-style tarball
// per platform (flyte-admission-linux-ARCH.tar, for `ctr images import`,
// `kind load image-archive` or `docker load`) and the index digest (digest).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("want a subcommand: build or push")
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:], out)
	case "push":
		return runPush(args[1:], out)
	default:
		return fmt.Errorf("unknown subcommand %q: want build or push", args[0])
	}
}

func runBuild(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	var o BuildOptions
	var platforms string
	fs.StringVar(&o.Source, "src", ".", "root of the repository (the main module)")
	fs.StringVar(&o.OutDir, "out", "out/image", "output directory (replaced)")
	fs.StringVar(&o.Image, "image", "", "image reference the tarballs and the layout are tagged with (default: ghcr.io/flyte-admission/flyte-admission:VERSION)")
	fs.StringVar(&o.Version, "version", "", "version linked into the binary and labelled (default: the chart's appVersion)")
	fs.StringVar(&o.Revision, "revision", "", "source revision (default: git rev-parse HEAD, with -dirty when the tree has changes)")
	fs.StringVar(&o.SourceURL, "source-url", DefaultSourceURL, "org.opencontainers.image.source")
	fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("build: unexpected arguments %q", fs.Args())
	}
	for _, p := range strings.Split(platforms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.Platforms = append(o.Platforms, p)
		}
	}
	res, err := Build(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "image %s\n  version %s, revision %s, created %s\n", res.Ref, res.Version, res.Revision, res.Created.UTC().Format("2006-01-02T15:04:05Z"))
	for _, p := range res.Platforms {
		fmt.Fprintf(out, "  %-12s manifest %s  compressed %d bytes (binary %d)  %s\n", p.Platform, p.Digest, p.CompressedSize, p.BinarySize, p.Tarball)
	}
	fmt.Fprintf(out, "  index        %s  %s\n", res.IndexDigest, res.Layout)
	return nil
}

func runPush(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	layoutDir := fs.String("layout", "out/image/oci", "OCI layout written by build")
	ref := fs.String("image", "", "where to push, e.g. registry.example.com/flyte-admission:0.1.0")
	insecure := fs.Bool("insecure", false, "allow a plain-HTTP registry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" {
		return fmt.Errorf("push: -image is required (make image-push IMAGE=registry/repo:tag)")
	}
	digest, err := Push(*layoutDir, *ref, *insecure)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "pushed %s@%s\n", *ref, digest)
	return nil
}
