package policy

import (
	"fmt"

	"github.com/flyte-admission/flyte-admission/plugins"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ForbidHostPath refuses hostPath volumes: in pod specs, and wherever else a
// kind mounts host paths (its plugin's PodViewer: a Spark application's
// volumes, pod templates and hostPath volume settings).
type ForbidHostPath struct{}

// Name implements Policy.
func (ForbidHostPath) Name() string { return "forbid-host-path" }

// Check implements Policy.
func (p ForbidHostPath) Check(obj client.Object, pods Pods) field.ErrorList {
	return p.check(newView(obj, pods))
}

func (p ForbidHostPath) check(v *view) field.ErrorList {
	var errs field.ErrorList
	v.eachVolume(func(vol plugins.Volume) {
		if hp := vol.Volume.HostPath; hp != nil {
			errs = append(errs, field.Forbidden(vol.Path().Child("hostPath"),
				fmt.Sprintf("hostPath volumes are not allowed (volume %q mounts %s; policy %s)", vol.Volume.Name, hp.Path, p.Name())))
		}
	})
	if v.viewer != nil {
		for _, path := range v.viewer.HostPathSettings(v.obj) {
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("hostPath volumes are not allowed (policy %s)", p.Name())))
		}
	}
	return errs
}
