package skeleton

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// The placeholders a serialized task may hold until registration, as
// flytectl's register files names them (flytectl/cmd/register/register_util.go).
const (
	projectPlaceholder       = "{{ registration.project }}"
	domainPlaceholder        = "{{ registration.domain }}"
	versionPlaceholder       = "{{ registration.version }}"
	remotePackagePlaceholder = "{{ .remote_package_path }}"
	destDirPlaceholder       = "{{ .dest_dir }}"
)

// imagePlaceholder is flytekit's image reference, `{{.image.NAME.fqn}}` or
// `{{.image.NAME.version}}`, which `pyflyte register -i NAME=IMAGE` resolves.
var imagePlaceholder = regexp.MustCompile(`\{\{\s*\.image\.([A-Za-z0-9_-]+)\.(fqn|version)\s*\}\}`)

// hydrate fills tt's registration placeholders in place as `flytectl
// register files` does: the identifier's project, domain and version where
// empty or a placeholder (the version also where set, with Force); the
// fast-registration arguments of the container or k8sPod containers; and,
// as `pyflyte register -i` does, flytekit image placeholders anywhere.
func hydrate(tt *core.TaskTemplate, o *Options) error {
	if tt.Id == nil {
		tt.Id = &core.Identifier{ResourceType: core.ResourceType_TASK}
	}
	id := tt.Id
	if id.Project == "" || id.Project == projectPlaceholder {
		id.Project = o.Project
	}
	if id.Domain == "" || id.Domain == domainPlaceholder {
		id.Domain = o.Domain
	}
	if o.Force || id.Version == "" || id.Version == versionPlaceholder {
		id.Version = o.Version
	}
	for _, f := range [...]struct{ name, value string }{{"project", id.Project}, {"domain", id.Domain}, {"version", id.Version}} {
		if f.value == "" {
			return fmt.Errorf("template.id.%s is empty: pass --%s", f.name, f.name)
		}
	}
	if c := tt.GetContainer(); c != nil {
		for i, a := range c.Args {
			v, err := o.fastArg(a, fmt.Sprintf("template.container.args[%d]", i))
			if err != nil {
				return err
			}
			c.Args[i] = v
		}
	}
	if spec := tt.GetK8SPod().GetPodSpec(); spec != nil {
		for ci, c := range spec.GetFields()["containers"].GetListValue().GetValues() {
			for ai, a := range c.GetStructValue().GetFields()["args"].GetListValue().GetValues() {
				s, ok := a.GetKind().(*structpb.Value_StringValue)
				if !ok {
					continue
				}
				v, err := o.fastArg(s.StringValue, fmt.Sprintf("template.k8sPod.podSpec.containers[%d].args[%d]", ci, ai))
				if err != nil {
					return err
				}
				s.StringValue = v
			}
		}
	}
	return o.fillImages(tt.ProtoReflect(), "template")
}

// fastArg is arg with the fast-registration placeholders filled.
func (o *Options) fastArg(arg, field string) (string, error) {
	switch arg {
	case remotePackagePlaceholder:
		if o.RemotePackagePath == "" {
			return "", fmt.Errorf("%s is %s (fast registration): upload the package's fast*.tar.gz and pass --remote-package-path", field, arg)
		}
		return o.RemotePackagePath, nil
	case destDirPlaceholder:
		if o.DestinationDir == "" {
			return ".", nil
		}
		return o.DestinationDir, nil
	}
	return arg, nil
}

// fillImages replaces the image placeholders in every string of m (fields,
// lists, maps, Structs), naming the field of one it cannot fill.
func (o *Options) fillImages(m protoreflect.Message, path string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + fd.JSONName()
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				var nv protoreflect.Value
				if nv, err = o.fillValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", p, i)); err == nil && fd.Message() == nil {
					l.Set(i, nv)
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				var nv protoreflect.Value
				if nv, err = o.fillValue(fd.MapValue(), mv, fmt.Sprintf("%s[%s]", p, k.String())); err == nil && fd.MapValue().Message() == nil {
					v.Map().Set(k, nv)
				}
				return err == nil
			})
		default:
			var nv protoreflect.Value
			if nv, err = o.fillValue(fd, v, p); err == nil && fd.Message() == nil {
				m.Set(fd, nv)
			}
		}
		return err == nil
	})
	return err
}

// fillValue fills one value of field fd: a string is returned filled, a
// message is filled in place.
func (o *Options) fillValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) (protoreflect.Value, error) {
	switch {
	case fd.Message() != nil:
		return v, o.fillImages(v.Message(), path)
	case fd.Kind() == protoreflect.StringKind:
		s, err := o.fillImage(v.String(), path)
		return protoreflect.ValueOfString(s), err
	}
	return v, nil
}

// fillImage replaces the image placeholders of s from o.Images.
func (o *Options) fillImage(s, path string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var err error
	out := imagePlaceholder.ReplaceAllStringFunc(s, func(ph string) string {
		m := imagePlaceholder.FindStringSubmatch(ph)
		image, ok := o.Images[m[1]]
		if !ok {
			if err == nil {
				err = fmt.Errorf("%s: %s names image %q: pass --image %s=IMAGE", path, ph, m[1], m[1])
			}
			return ph
		}
		fqn, version := splitImage(image)
		if m[2] == "fqn" {
			return fqn
		}
		return version
	})
	return out, err
}

// splitImage splits an image reference into its name and tag (flytekit's
// fqn and version): "registry:5000/app:1.2" is "registry:5000/app" and "1.2";
// a reference without a tag has version "latest".
func splitImage(image string) (fqn, version string) {
	slash := strings.LastIndexByte(image, '/')
	if colon := strings.LastIndexByte(image, ':'); colon > slash {
		return image[:colon], image[colon+1:]
	}
	return image, "latest"
}

// ParseImages parses `--image` values as pyflyte does: NAME=IMAGE, or IMAGE
// alone for the image named "default".
func ParseImages(values []string) (map[string]string, error) {
	images := map[string]string{}
	for _, v := range values {
		name, image, ok := strings.Cut(v, "=")
		if !ok {
			name, image = "default", v
		}
		if name == "" || image == "" {
			return nil, fmt.Errorf("--image %q: want NAME=IMAGE or IMAGE", v)
		}
		if _, dup := images[name]; dup {
			return nil, fmt.Errorf("--image: image %q given twice", name)
		}
		images[name] = image
	}
	return images, nil
}
