package podspec

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Copy returns a copy of spec for a plugin that makes one pod per role out of
// the task pod (Ray's head and workers, Dask's scheduler, workers and
// runner): the pod and container structs are its own, and each list is
// clipped so that appending to it makes a new one. What those point to
// (resource lists, env vars, volumes, security contexts) is shared with spec
// and must not be changed in place: expansions only replace and append such
// fields, and a whole DeepCopy per role was a tenth of a Ray expansion's
// allocations.
//
// The copy is a value, for the caller to build in place in the object it
// makes (one allocation less per pod); its containers list has room for
// containerRoom more (a sidecar the plugin adds), which is its own.
func Copy(spec *corev1.PodSpec, containerRoom int) corev1.PodSpec {
	out := *spec
	out.Containers = copyContainers(spec.Containers, containerRoom)
	out.InitContainers = copyContainers(spec.InitContainers, 0)
	out.Volumes = slices.Clip(spec.Volumes)
	out.Tolerations = slices.Clip(spec.Tolerations)
	out.ImagePullSecrets = slices.Clip(spec.ImagePullSecrets)
	out.HostAliases = slices.Clip(spec.HostAliases)
	out.TopologySpreadConstraints = slices.Clip(spec.TopologySpreadConstraints)
	out.ReadinessGates = slices.Clip(spec.ReadinessGates)
	out.ResourceClaims = slices.Clip(spec.ResourceClaims)
	out.SchedulingGates = slices.Clip(spec.SchedulingGates)
	out.EphemeralContainers = slices.Clip(spec.EphemeralContainers)
	return out
}

func copyContainers(cs []corev1.Container, room int) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs), len(cs)+room)
	for i := range cs {
		c := cs[i]
		c.Command = slices.Clip(c.Command)
		c.Args = slices.Clip(c.Args)
		c.Env = slices.Clip(c.Env)
		c.EnvFrom = slices.Clip(c.EnvFrom)
		c.Ports = slices.Clip(c.Ports)
		c.VolumeMounts = slices.Clip(c.VolumeMounts)
		c.VolumeDevices = slices.Clip(c.VolumeDevices)
		c.ResizePolicy = slices.Clip(c.ResizePolicy)
		out[i] = c
	}
	return out
}
