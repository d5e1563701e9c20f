package policy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RequiredLabels requires every object to carry the listed labels (with any
// non-empty value), e.g. a team or cost-center label.
type RequiredLabels struct {
	Labels []string
}

// Name implements Policy.
func (RequiredLabels) Name() string { return "required-labels" }

// Check implements Policy.
func (p RequiredLabels) Check(obj client.Object, pods Pods) field.ErrorList {
	return p.check(newView(obj, pods))
}

func (p RequiredLabels) check(v *view) field.ErrorList {
	var errs field.ErrorList
	labels := v.obj.GetLabels()
	for _, k := range p.Labels {
		if labels[k] != "" {
			continue
		}
		errs = append(errs, field.Required(field.NewPath("metadata", "labels").Key(k),
			fmt.Sprintf("label %q is required (policy %s)", k, p.Name())))
	}
	return errs
}
