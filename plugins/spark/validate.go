package spark

import (
	"fmt"

	"github.com/flyte-admission/flyte-admission/config"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Validate implements webhook.InvariantChecker: valid executor counts
// (executor_counts.go), the name spark-operator accepts
// (application_name.go), a main application file (main_application_file.go),
// no operator-managed sparkConf key (operator_managed_conf.go) and a driver
// off interruptible nodes (driver_not_interruptible.go).
func (Plugin) Validate(obj client.Object, cfg *config.Config) field.ErrorList {
	app, ok := obj.(*sparkv1beta2.SparkApplication)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("not a SparkApplication: %T", obj))}
	}
	errs := executorCountErrors(app)
	errs = append(errs, applicationNameErrors(app.Name)...)
	errs = append(errs, mainApplicationFileErrors(app)...)
	errs = append(errs, operatorManagedConfErrors(app)...)
	return append(errs, driverInterruptibleErrors(app, &cfg.Plugins.K8s)...)
}
