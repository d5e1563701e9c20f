package spark

import (
	"fmt"

	"github.com/flyte-admission/flyte-admission/config"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invariant: the Spark driver never runs on interruptible nodes.
//
// Flyte builds the driver's pod spec as not interruptible whatever the task
// says (Expand: podSpec(..., driverInterruptible, "driverPod")), since losing
// the driver loses the application; the executors follow the task. The check
// (driverInterruptibleErrors) refuses a driver that tolerates, selects or
// requires the configured interruptible nodes.

// driverInterruptible is the interruptibility the driver is built with.
const driverInterruptible = false

// driverInterruptibleErrors reports every toleration, node selector and node
// affinity term of the driver that places it on interruptible nodes.
func driverInterruptibleErrors(app *sparkv1beta2.SparkApplication, k *config.K8s) field.ErrorList {
	d := &app.Spec.Driver
	p := field.NewPath("spec", "driver")
	var errs field.ErrorList
	for i := range d.Tolerations {
		for j := range k.InterruptibleTolerations {
			if d.Tolerations[i].MatchToleration(&k.InterruptibleTolerations[j]) {
				errs = append(errs, field.Forbidden(p.Child("tolerations").Index(i),
					fmt.Sprintf("the Spark driver must not tolerate interruptible nodes (toleration %q)", d.Tolerations[i].Key)))
			}
		}
	}
	for key, v := range k.InterruptibleNodeSelector {
		if d.NodeSelector[key] == v && k.DefaultNodeSelector[key] != v {
			errs = append(errs, field.Forbidden(p.Child("nodeSelector").Key(key),
				fmt.Sprintf("the Spark driver must not select interruptible nodes (%s=%s)", key, v)))
		}
	}
	if r := k.InterruptibleNodeSelectorRequirement; r != nil && d.Affinity != nil && d.Affinity.NodeAffinity != nil &&
		d.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		terms := d.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		tp := p.Child("affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
		for i := range terms {
			for j := range terms[i].MatchExpressions {
				if sameRequirement(terms[i].MatchExpressions[j], *r) {
					errs = append(errs, field.Forbidden(tp.Index(i).Child("matchExpressions").Index(j),
						fmt.Sprintf("the Spark driver must not require interruptible nodes (%s %s %v)", r.Key, r.Operator, r.Values)))
				}
			}
		}
	}
	return errs
}

func sameRequirement(a, b corev1.NodeSelectorRequirement) bool {
	if a.Key != b.Key || a.Operator != b.Operator || len(a.Values) != len(b.Values) {
		return false
	}
	for i := range a.Values {
		if a.Values[i] != b.Values[i] {
			return false
		}
	}
	return true
}
