package ray

import (
	"fmt"

	"github.com/flyte-admission/flyte-admission/config"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invariant: when plugins.ray.logsSidecar is configured, the head pod runs
// it, sharing the head's /tmp/ray read-only (Flyte's injectLogsSidecar). The
// expansion injects it (injectLogsSidecar); the check (logsSidecarErrors)
// refuses a RayJob whose head pod lacks it.

// injectLogsSidecar shares the head's /tmp/ray read-only with a copy of the
// configured sidecar.
func injectLogsSidecar(spec *corev1.PodSpec, primary int, sidecar *corev1.Container) {
	c := &spec.Containers[primary]
	var mount corev1.VolumeMount
	found := false
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == rayStatePath {
			c.VolumeMounts[i].DeepCopyInto(&mount)
			found = true
			break
		}
	}
	if !found {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: rayStateVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		mount = corev1.VolumeMount{Name: rayStateVolume, MountPath: rayStatePath}
		c.VolumeMounts = append(c.VolumeMounts, mount)
	}
	mount.ReadOnly = true
	// The configured sidecar is shared and read only; only its mounts change,
	// in a list of its own.
	s := *sidecar
	s.VolumeMounts = make([]corev1.VolumeMount, 0, len(sidecar.VolumeMounts)+1)
	replaced := false
	for _, m := range sidecar.VolumeMounts {
		if m.MountPath == rayStatePath {
			m = mount
			replaced = true
		}
		s.VolumeMounts = append(s.VolumeMounts, m)
	}
	if !replaced {
		s.VolumeMounts = append(s.VolumeMounts, mount)
	}
	spec.Containers = append(spec.Containers, s)
}

// logsSidecarErrors checks that the head pod runs the configured sidecar.
func logsSidecarErrors(cs *rayv1.RayClusterSpec, cfg *config.Ray) field.ErrorList {
	sc := cfg.LogsSidecar
	if sc == nil || cs == nil {
		return nil
	}
	head := cs.HeadGroupSpec.Template.Spec.Containers
	for i := range head {
		if head[i].Name == sc.Name {
			return nil
		}
	}
	return field.ErrorList{field.Required(field.NewPath("spec", "rayClusterSpec", "headGroupSpec", "template", "spec", "containers"),
		fmt.Sprintf("the head pod must run the logs sidecar %q (plugins.ray.logsSidecar)", sc.Name))}
}
