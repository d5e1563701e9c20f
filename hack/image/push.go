package main

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push pushes the index of the OCI layout that Build wrote to ref, with the
// credentials of ~/.docker/config.json (`docker login`, `crane auth login`),
// and returns the digest the registry now serves: the layout's, unchanged.
func Push(layoutDir, ref string, insecure bool) (v1.Hash, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(ref, opts...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("-image %q: want REGISTRY/REPOSITORY:TAG: %w", ref, err)
	}
	p, err := layout.FromPath(layoutDir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout %s (run `make image` first): %w", layoutDir, err)
	}
	outer, err := p.ImageIndex()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout %s: %w", layoutDir, err)
	}
	im, err := outer.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout %s: %w", layoutDir, err)
	}
	if len(im.Manifests) != 1 {
		return v1.Hash{}, fmt.Errorf("OCI layout %s: index.json lists %d entries, want the one index `image build` writes", layoutDir, len(im.Manifests))
	}
	idx, err := outer.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout %s: %w", layoutDir, err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout %s: %w", layoutDir, err)
	}
	if err := remote.WriteIndex(tag, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", tag, err)
	}
	return digest, nil
}
