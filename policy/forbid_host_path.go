package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ForbidHostPath refuses hostPath volumes: in pod specs, in a Spark
// application's volumes and pod templates, and Spark's own
// spark.kubernetes.{driver,executor}.volumes.hostPath.* settings.
type ForbidHostPath struct{}

// Name implements Policy.
func (ForbidHostPath) Name() string { return "forbid-host-path" }

// Check implements Policy.
func (p ForbidHostPath) Check(obj client.Object, pods []plugins.PodSpecRef) field.ErrorList {
	return p.check(newView(obj, pods))
}

func (p ForbidHostPath) check(v *view) field.ErrorList {
	var errs field.ErrorList
	v.eachVolume(func(vol volume) {
		if hp := vol.v.HostPath; hp != nil {
			errs = append(errs, field.Forbidden(vol.path().Child("hostPath"),
				fmt.Sprintf("hostPath volumes are not allowed (volume %q mounts %s; policy %s)", vol.v.Name, hp.Path, p.Name())))
		}
	})
	if v.spark != nil {
		var keys []string
		for k := range v.spark.Spec.SparkConf {
			if strings.HasPrefix(k, "spark.kubernetes.driver.volumes.hostPath.") ||
				strings.HasPrefix(k, "spark.kubernetes.executor.volumes.hostPath.") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "sparkConf").Key(k),
				fmt.Sprintf("hostPath volumes are not allowed (policy %s)", p.Name())))
		}
	}
	return errs
}
