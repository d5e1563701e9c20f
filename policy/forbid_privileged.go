package policy

import (
	"fmt"

	"github.com/flyte-admission/flyte-admission/plugins"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ForbidPrivileged refuses privileged containers (securityContext.privileged),
// including init containers, sidecars and a Spark driver or executor.
type ForbidPrivileged struct{}

// Name implements Policy.
func (ForbidPrivileged) Name() string { return "forbid-privileged" }

// Check implements Policy.
func (p ForbidPrivileged) Check(obj client.Object, pods Pods) field.ErrorList {
	return p.check(newView(obj, pods))
}

func (p ForbidPrivileged) check(v *view) field.ErrorList {
	var errs field.ErrorList
	v.eachContainer(func(c plugins.Container) {
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Forbidden(c.Path().Child("securityContext", "privileged"),
				fmt.Sprintf("privileged containers are not allowed (policy %s)", p.Name())))
		}
	})
	return errs
}
