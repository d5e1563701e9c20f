package watch

import (
	"reflect"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/task"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LastAppliedAnnotation is kubectl's copy of the applied object, dropped from
// the cache.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// MaxCachedAnnotationBytes is the largest annotation value the cache keeps on
// a watched object, except the flyte.org/ ones (which Phase and the watcher
// read).
const MaxCachedAnnotationBytes = 4 << 10

// CacheOptions are the manager cache options the watcher needs: Transform of
// the built-in plugins' kinds as the DefaultTransform (a ByObject entry would
// need the kinds' CRDs at manager creation, and kinds are watched only once
// their CRDs exist).
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: Transform(builtin.Registry())}
}

// Transform returns the cache transform that keeps of reg's kinds only what
// Phase and the watcher read: metadata (without managedFields, kubectl's
// last-applied-configuration and other annotations over
// MaxCachedAnnotationBytes, except flyte.org/ ones such as the task template
// and execution) and the status; the spec is dropped. CRDs lose their
// schemas, printer columns and conversion settings. Every other object only
// loses its managedFields.
func Transform(reg *plugins.Registry) toolscache.TransformFunc {
	typed := map[reflect.Type]bool{}
	kinds := map[schema.GroupKind]bool{}
	for _, p := range reg.Plugins() {
		typed[reflect.TypeOf(p.NewObject())] = true
		kinds[p.Kind().GroupKind()] = true
	}
	return func(in any) (any, error) {
		obj, ok := in.(client.Object)
		if !ok {
			return in, nil // e.g. a DeletedFinalStateUnknown tombstone
		}
		if obj.GetManagedFields() != nil {
			obj.SetManagedFields(nil)
		}
		switch o := obj.(type) {
		case *apiextensionsv1.CustomResourceDefinition:
			stripCRD(o)
		case *unstructured.Unstructured:
			if kinds[o.GroupVersionKind().GroupKind()] {
				delete(o.Object, "spec")
				trimAnnotations(o)
			}
		default:
			if typed[reflect.TypeOf(obj)] {
				clearSpec(obj)
				trimAnnotations(obj)
			}
		}
		return obj, nil
	}
}

// clearSpec zeroes the Spec field of a typed object.
func clearSpec(obj client.Object) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	if f := v.Elem().FieldByName("Spec"); f.IsValid() && f.CanSet() {
		f.SetZero()
	}
}

// dropAnnotation reports whether the cache drops an annotation. Phase reads
// the task template and execution; the watcher reads its own flyte.org/
// annotations.
func dropAnnotation(k, v string) bool {
	switch {
	case k == task.TemplateAnnotation || k == task.ExecutionAnnotation || strings.HasPrefix(k, "flyte.org/"):
		return false
	case k == LastAppliedAnnotation:
		return true
	}
	return len(v) > MaxCachedAnnotationBytes
}

func trimAnnotations(obj client.Object) {
	ann := obj.GetAnnotations()
	n := 0
	for k, v := range ann {
		if dropAnnotation(k, v) {
			n++
		}
	}
	if n == 0 {
		return
	}
	kept := make(map[string]string, len(ann)-n)
	for k, v := range ann {
		if !dropAnnotation(k, v) {
			kept[k] = v
		}
	}
	obj.SetAnnotations(kept)
}

// stripCRD keeps what the CRD controller reads: group, names, scope, the
// versions' names and served/storage flags, and the status.
func stripCRD(crd *apiextensionsv1.CustomResourceDefinition) {
	crd.Spec.Conversion = nil
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		v.Schema = nil
		v.Subresources = nil
		v.AdditionalPrinterColumns = nil
		v.SelectableFields = nil
	}
	if _, ok := crd.Annotations[LastAppliedAnnotation]; ok {
		trimAnnotations(crd)
	}
}
