package podspec

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

var quantityType = reflect.TypeOf(resource.Quantity{})

// mergeInto merges src onto dst with the semantics Flyte gets from
// mergo.Merge(dst, src, WithOverride, WithAppendSlice): non-zero scalars of src
// win, zero values never overwrite, slices are appended (dst first), maps are
// merged key-wise (src wins) and structs and pointers to structs recursively.
// src is not modified; dst may end up sharing src's sub-values, so callers
// pass copies.
func mergeInto(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		if src.Type() == quantityType {
			if !src.IsZero() {
				dst.Set(src)
			}
			return
		}
		for i := 0; i < src.NumField(); i++ {
			if !src.Type().Field(i).IsExported() {
				continue
			}
			mergeInto(dst.Field(i), src.Field(i))
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		if dst.IsNil() || src.Elem().Kind() != reflect.Struct {
			dst.Set(src)
			return
		}
		mergeInto(dst.Elem(), src.Elem())
	case reflect.Slice:
		if src.Len() == 0 {
			return
		}
		if dst.IsNil() {
			dst.Set(src)
			return
		}
		dst.Set(reflect.AppendSlice(dst, src))
	case reflect.Map:
		if src.Len() == 0 {
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
		}
		it := src.MapRange()
		for it.Next() {
			dst.SetMapIndex(it.Key(), it.Value())
		}
	default:
		if !src.IsZero() {
			dst.Set(src)
		}
	}
}

// mergeStruct merges *src onto *dst (both pointers to the same struct type).
func mergeStruct[T any](dst *T, src *T) {
	mergeInto(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

// MergeOverlay is Flyte's MergeOverlayPodSpecOntoBase: the overlay's pod-level
// fields are merged onto a copy of base, and each base container is merged
// with the overlay container of the same name; overlay containers with new
// names are dropped.
func MergeOverlay(base, overlay *corev1.PodSpec) *corev1.PodSpec {
	out := base.DeepCopy()
	ov := overlay.DeepCopy()
	containers, inits := out.Containers, out.InitContainers
	mergeStruct(out, ov)
	out.Containers = mergeByName(containers, ov.Containers)
	out.InitContainers = mergeByName(inits, ov.InitContainers)
	return out
}

func mergeByName(base, overlay []corev1.Container) []corev1.Container {
	if len(base) == 0 {
		return base
	}
	out := make([]corev1.Container, len(base))
	for i := range base {
		out[i] = base[i]
		for j := range overlay {
			if overlay[j].Name == base[i].Name {
				mergeStruct(&out[i], &overlay[j])
			}
		}
	}
	return out
}

// mergeBaseTemplate is Flyte's MergeBasePodSpecOntoTemplate: the pod is merged
// onto the base PodTemplate's spec; containers come from the pod only, each
// built from the template's "default" container, then the "primary" one (for
// the primary container) or the one of the same name, then the pod's own.
func mergeBaseTemplate(tmpl, pod *corev1.PodSpec, primary string) *corev1.PodSpec {
	out := tmpl.DeepCopy()
	p := pod.DeepCopy()
	mergeStruct(out, p)
	out.Containers = rebuild(tmpl.Containers, p.Containers, primary, "default", "primary")
	out.InitContainers = rebuild(tmpl.InitContainers, p.InitContainers, "", "default-init", "primary-init")
	return out
}

func rebuild(tmpl, pod []corev1.Container, primary, defName, primaryName string) []corev1.Container {
	find := func(name string) *corev1.Container {
		for i := range tmpl {
			if tmpl[i].Name == name {
				return tmpl[i].DeepCopy()
			}
		}
		return nil
	}
	if pod == nil {
		return nil
	}
	out := make([]corev1.Container, 0, len(pod))
	for i := range pod {
		c := corev1.Container{}
		if d := find(defName); d != nil {
			c = *d
		}
		var t *corev1.Container
		if primary != "" && pod[i].Name == primary {
			t = find(primaryName)
		} else {
			t = find(pod[i].Name)
		}
		if t != nil {
			mergeStruct(&c, t)
		}
		mergeStruct(&c, &pod[i])
		out = append(out, c)
	}
	return out
}
