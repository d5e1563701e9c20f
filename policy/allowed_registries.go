package policy

import (
	"fmt"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AllowedRegistries admits only images from the listed registries or
// repository prefixes ("ghcr.io/flyteorg", "123456789012.dkr.ecr.us-east-1.amazonaws.com/").
// A prefix matches at a path boundary: "ghcr.io/flyteorg" allows
// "ghcr.io/flyteorg/flytekit:1.0" but not "ghcr.io/flyteorg-fork/x". Images
// without a registry are Docker Hub's ("python:3.11" is
// "docker.io/library/python:3.11") and match either form.
type AllowedRegistries struct {
	Prefixes []string
}

// Name implements Policy.
func (AllowedRegistries) Name() string { return "allowed-registries" }

// Check implements Policy.
func (p AllowedRegistries) Check(obj client.Object, pods Pods) field.ErrorList {
	return p.check(newView(obj, pods))
}

func (p AllowedRegistries) check(v *view) field.ErrorList {
	var errs field.ErrorList
	v.eachContainer(func(c plugins.Container) {
		if c.Image == "" || p.allowed(c.Image) {
			return
		}
		errs = append(errs, field.Forbidden(c.ImageField(),
			fmt.Sprintf("image %q is not from an allowed registry (policy %s allows %s)", c.Image, p.Name(), strings.Join(p.Prefixes, ", "))))
	})
	return errs
}

func (p AllowedRegistries) allowed(image string) bool {
	full := ""
	for _, prefix := range p.Prefixes {
		if hasPathPrefix(image, prefix) {
			return true
		}
		if full == "" {
			full = dockerHubName(image)
		}
		if full != image && hasPathPrefix(full, prefix) {
			return true
		}
	}
	return false
}

// hasPathPrefix reports whether prefix is image's registry or a leading part
// of its repository path.
func hasPathPrefix(image, prefix string) bool {
	if !strings.HasPrefix(image, prefix) {
		return false
	}
	if len(image) == len(prefix) || strings.HasSuffix(prefix, "/") {
		return true
	}
	switch image[len(prefix)] {
	case '/', ':', '@':
		return true
	}
	return false
}

// dockerHubName spells out a Docker Hub image's implicit registry (and
// library/ namespace); other images come back as they are.
func dockerHubName(image string) string {
	first, _, found := strings.Cut(image, "/")
	if !found {
		return "docker.io/library/" + image
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return image
	}
	return "docker.io/" + image
}
