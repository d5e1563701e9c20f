package podspec_test

import (
	"testing"

	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestCopyKeepsTheOriginal writes and appends to every part of a Copy that
// the plugins write or append to, and checks the original is as it was.
func TestCopyKeepsTheOriginal(t *testing.T) {
	orig := &corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:         "primary",
			Image:        "a",
			Args:         make([]string, 1, 8),
			Env:          make([]corev1.EnvVar, 1, 8),
			Ports:        make([]corev1.ContainerPort, 0, 8),
			VolumeMounts: make([]corev1.VolumeMount, 0, 8),
			Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			},
		}},
		Volumes:     make([]corev1.Volume, 0, 8),
		Tolerations: make([]corev1.Toleration, 0, 8),
	}
	want := orig.DeepCopy()

	c := podspec.Copy(orig, 1)
	pc := &c.Containers[0]
	pc.Name, pc.Image, pc.Args = "head", "b", nil
	pc.Env = append(pc.Env, corev1.EnvVar{Name: "X"})
	pc.Ports = append(pc.Ports, corev1.ContainerPort{ContainerPort: 1})
	pc.VolumeMounts = append(pc.VolumeMounts, corev1.VolumeMount{Name: "v"})
	pc.Lifecycle = &corev1.Lifecycle{}
	pc.Resources = corev1.ResourceRequirements{}
	c.Containers = append(c.Containers, corev1.Container{Name: "sidecar"})
	c.Volumes = append(c.Volumes, corev1.Volume{Name: "v"})
	c.Tolerations = append(c.Tolerations, corev1.Toleration{Key: "k"})
	c.RestartPolicy = corev1.RestartPolicyNever

	require.Equal(t, want, orig)
	// The backing arrays too: what an append wrote past the original's
	// length must not be in them.
	require.Empty(t, orig.Containers[0].Env[1:cap(orig.Containers[0].Env)][0].Name)
	require.Empty(t, orig.Volumes[:cap(orig.Volumes)][0].Name)
	require.Empty(t, orig.Tolerations[:cap(orig.Tolerations)][0].Key)
}
