package ray

import (
	"fmt"
	"slices"

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
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == rayStatePath {
			mount = c.VolumeMounts[i].DeepCopy()
			break
		}
	}
	if mount == nil {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: rayStateVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		m := corev1.VolumeMount{Name: rayStateVolume, MountPath: rayStatePath}
		c.VolumeMounts = append(c.VolumeMounts, m)
		mount = &m
	}
	mount.ReadOnly = true
	// The configured sidecar is shared and read only; only its mounts change.
	s := *sidecar
	s.VolumeMounts = slices.Clone(s.VolumeMounts)
	replaced := false
	for i := range s.VolumeMounts {
		if s.VolumeMounts[i].MountPath == rayStatePath {
			s.VolumeMounts[i] = *mount
			replaced = true
		}
	}
	if !replaced {
		s.VolumeMounts = append(s.VolumeMounts, *mount)
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
