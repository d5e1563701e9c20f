package podspec

import (
	"fmt"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ResourceRequirements converts Flyte task resources to Kubernetes ones, as
// Flyte's ToK8sResourceRequirements does: CPU, MEMORY, GPU (nvidia.com/gpu)
// and EPHEMERAL_STORAGE are kept, zero quantities dropped. field names the
// Resources message in errors.
func ResourceRequirements(r *core.Resources, field string) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	if r == nil {
		return out, nil
	}
	var err error
	if out.Requests, err = resourceList(r.GetRequests(), field+".requests"); err != nil {
		return out, err
	}
	if out.Limits, err = resourceList(r.GetLimits(), field+".limits"); err != nil {
		return out, err
	}
	return out, nil
}

func resourceList(entries []*core.Resources_ResourceEntry, field string) (corev1.ResourceList, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	out := make(corev1.ResourceList, len(entries))
	for i, e := range entries {
		var name corev1.ResourceName
		switch e.GetName() {
		case core.Resources_CPU:
			name = corev1.ResourceCPU
		case core.Resources_MEMORY:
			name = corev1.ResourceMemory
		case core.Resources_GPU:
			name = "nvidia.com/gpu"
		case core.Resources_EPHEMERAL_STORAGE:
			name = corev1.ResourceEphemeralStorage
		default:
			continue
		}
		q, err := resource.ParseQuantity(e.GetValue())
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("%s[%d].value", field, i),
				Err: fmt.Errorf("failed to parse resource as a valid quantity: %q", e.GetValue())}
		}
		if q.Sign() < 0 {
			return nil, &FieldError{Field: fmt.Sprintf("%s[%d].value", field, i),
				Err: fmt.Errorf("negative quantity %q", e.GetValue())}
		}
		if q.IsZero() {
			continue
		}
		out[name] = q
	}
	return out, nil
}

// FieldError is an expansion error tied to a field of the task template.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// mergeResources copies every entry of src into dst (src wins).
func mergeResources(src corev1.ResourceRequirements, dst *corev1.ResourceRequirements) {
	dst.Requests = mergeList(src.Requests, dst.Requests, true)
	dst.Limits = mergeList(src.Limits, dst.Limits, true)
}

// mergeResourcesIfMissing copies entries of src that dst lacks.
func mergeResourcesIfMissing(src corev1.ResourceRequirements, dst *corev1.ResourceRequirements) {
	dst.Requests = mergeList(src.Requests, dst.Requests, false)
	dst.Limits = mergeList(src.Limits, dst.Limits, false)
}

func mergeList(src, dst corev1.ResourceList, override bool) corev1.ResourceList {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(corev1.ResourceList, len(src))
	}
	for k, v := range src {
		if _, ok := dst[k]; ok && !override {
			continue
		}
		dst[k] = v.DeepCopy()
	}
	return dst
}

// Platform is the resource defaulting context: Flyte's platform resources
// with the configured default CPU and memory requests.
type Platform struct {
	// Requests and Limits are the platform resources; read only (they may be
	// the configuration's own lists).
	Requests, Limits corev1.ResourceList
	// DefaultCPU and DefaultMemory are the requests of cpu and memory that
	// Requests lacks.
	DefaultCPU, DefaultMemory resource.Quantity
	GPU                       corev1.ResourceName
}

// request is the platform's request of name: Requests', else the default.
func (p *Platform) request(name corev1.ResourceName) resource.Quantity {
	if q, ok := p.Requests[name]; ok {
		return q
	}
	switch name {
	case corev1.ResourceCPU:
		return p.DefaultCPU
	case corev1.ResourceMemory:
		return p.DefaultMemory
	}
	return resource.Quantity{}
}

// ApplyResourceOverrides is Flyte's ApplyResourceOverrides: cpu and memory are
// always adjusted, ephemeral storage and GPU only when present. With assign,
// a missing request takes the limit (or the platform default) and a missing
// limit the request; every adjusted value is then clamped to the platform
// limit and the request to the limit.
func ApplyResourceOverrides(res corev1.ResourceRequirements, p Platform, assign bool) corev1.ResourceRequirements {
	if len(res.Requests) == 0 {
		res.Requests = corev1.ResourceList{}
	}
	if len(res.Limits) == 0 {
		res.Limits = corev1.ResourceList{}
	}
	adjust := func(name corev1.ResourceName) {
		req, lim := res.Requests[name], res.Limits[name]
		plim := p.Limits[name]
		if assign {
			if req.IsZero() {
				if !lim.IsZero() {
					req = lim
				} else {
					req = p.request(name)
				}
			}
			if lim.IsZero() {
				lim = req
			}
		}
		req = clampTo(req, plim)
		lim = clampTo(lim, plim)
		req = clampTo(req, lim)
		res.Requests[name] = req
		res.Limits[name] = lim
	}
	adjust(corev1.ResourceCPU)
	adjust(corev1.ResourceMemory)
	if present(res, corev1.ResourceEphemeralStorage) {
		adjust(corev1.ResourceEphemeralStorage)
	}
	if present(res, p.GPU) {
		adjust(p.GPU)
	}
	return res
}

func present(res corev1.ResourceRequirements, name corev1.ResourceName) bool {
	_, a := res.Requests[name]
	_, b := res.Limits[name]
	return a || b
}

// clampTo returns min(v, limit), where a zero value or limit means unbounded.
func clampTo(v, limit resource.Quantity) resource.Quantity {
	if v.IsZero() || limit.IsZero() {
		return v
	}
	if v.Cmp(limit) > 0 {
		return limit
	}
	return v
}
