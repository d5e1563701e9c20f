package plugins

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Container is one container of an object's pods as cluster policies read
// it, wherever it is written: Base.List[Index], or Base itself when List is
// "" (a container written as fields of its own, such as a Spark driver).
// Paths are built only when a violation is reported.
type Container struct {
	Base  *field.Path
	List  string
	Index int
	Image string
	// ImagePath is where Image is written when that is not the container's
	// own image field (a Spark driver may run the application's image).
	ImagePath       *field.Path
	SecurityContext *corev1.SecurityContext
}

// Path is the container's field path.
func (c *Container) Path() *field.Path {
	if c.List == "" {
		return c.Base
	}
	return c.Base.Child(c.List).Index(c.Index)
}

// ImageField is where the container's image is written.
func (c *Container) ImageField() *field.Path {
	if c.ImagePath != nil {
		return c.ImagePath
	}
	return c.Path().Child("image")
}

// EachContainer calls fn for every container of cs, the list named list
// under base.
func EachContainer(base *field.Path, list string, cs []corev1.Container, fn func(Container)) {
	for i := range cs {
		fn(Container{Base: base, List: list, Index: i, Image: cs[i].Image, SecurityContext: cs[i].SecurityContext})
	}
}

// Volume is one volume of an object's pods: Base.volumes[Index].
type Volume struct {
	Base   *field.Path
	Index  int
	Volume *corev1.Volume
}

// Path is the volume's field path.
func (v *Volume) Path() *field.Path { return v.Base.Child("volumes").Index(v.Index) }

// Pod is one pod of an object (or Replicas alike) as the max-resources
// policy sizes it, by the scheduler's rules over its containers plus Main.
type Pod struct {
	Path *field.Path
	// ReplicasPath is where Replicas is written (nil: a single pod, or the
	// operator's default).
	ReplicasPath *field.Path
	Replicas     int
	// InitContainers and Containers are the pod's init and app containers
	// (besides Main).
	InitContainers, Containers []corev1.Container
	Overhead                   corev1.ResourceList
	// Main is an app container written as fields of its own (a Spark driver
	// or executor), already sized by the kind's rules.
	Main MainSize
}

// MainSize is what a container written as fields of its own asks for: CPU in
// millicores, memory in bytes, and GPUs of one resource name.
type MainSize struct {
	MilliCPU, Memory int64
	GPU              corev1.ResourceName
	GPUs             int64
}
