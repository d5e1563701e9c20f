package ray

import (
	"fmt"
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invariant: the submitter runs `ray job submit` with the head image, and the
// task's program runs on the Ray cluster.
//
// Flyte 1.16.8 builds the submitter pod from the task pod: the primary
// container keeps its own command and args and gets the head image, and the
// job's entrypoint is the container's args alone. KubeRay 1.6
// (controllers/ray/rayjob_controller.go, configureSubmitterContainer) fills in
// `ray job submit ... -- <entrypoint>` only when containers[0] has no command,
// so a task container with a command (["python"]) ran its program inside the
// submitter pod and never on the cluster. The expansion clears the
// submitter's command (KubeRay then writes command and args; the args are
// left as Flyte wrote them) and puts the command in front of the args in the
// entrypoint, so the same program runs on the
// cluster; the check refuses a Flyte RayJob whose submitter has a command,
// and any RayJob whose submitter does not run the head image (KubeRay's own
// default, common.GetDefaultSubmitterContainer, runs the head image too).

// submitterPod turns the task pod (primary container first) into the
// submitter pod: containers[0] runs the head image and leaves its command to
// KubeRay.
func submitterPod(spec *corev1.PodSpec, headImage string) {
	c := &spec.Containers[0]
	c.Image = headImage
	c.Command = nil
}

// entrypoint is the program the Ray job runs: the task container's command
// and args joined by spaces, an empty argument written as two single quotes.
func entrypoint(command, args []string) string {
	lists := [...][]string{command, args}
	n := 0
	for _, l := range lists {
		for _, a := range l {
			n += len(a) + len(" ''")
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, l := range lists {
		for _, a := range l {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			if a == "" {
				a = "''"
			}
			b.WriteString(a)
		}
	}
	return b.String()
}

// submitterErrors checks the submitter pod of rj: containers[0] runs the
// image of the head's Ray container (containers[0], as KubeRay reads it) and,
// for a Flyte RayJob, has no command.
func submitterErrors(rj *rayv1.RayJob, flyte bool) field.ErrorList {
	sub := rj.Spec.SubmitterPodTemplate
	cs := rj.Spec.RayClusterSpec
	if sub == nil || len(sub.Spec.Containers) == 0 || cs == nil || len(cs.HeadGroupSpec.Template.Spec.Containers) == 0 {
		return nil
	}
	var errs field.ErrorList
	p := field.NewPath("spec", "submitterPodTemplate", "spec", "containers").Index(0)
	c := &sub.Spec.Containers[0]
	head := cs.HeadGroupSpec.Template.Spec.Containers[0].Image
	if c.Image != head {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, fmt.Sprintf("the submitter must run the head image %q", head)))
	}
	if flyte && len(c.Command) > 0 {
		errs = append(errs, field.Invalid(p.Child("command"), c.Command,
			"must be empty: KubeRay fills in `ray job submit` only when the submitter has no command, else the entrypoint never reaches the Ray cluster"))
	}
	return errs
}
