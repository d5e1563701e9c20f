package spark

import (
	"fmt"
	"sort"

	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	sparkcommon "github.com/kubeflow/spark-operator/v2/pkg/common"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invariant: sparkConf carries no key spark-operator manages itself.
//
// Flyte 1.16.8 copies plugins.spark.spark-config-default and the task's
// sparkConf into spec.sparkConf as they are, so a platform config written for
// spark-submit (`spark.master: k8s://...`) reaches the operator, and
// spark-operator v2.5 refuses the application (internal/webhook/
// sparkconf_validator.go, validateSparkConf: "sparkConf key spark.master is
// not allowed: this value is managed by the operator"). The operator passes
// its own value for each of these to spark-submit (--master, the images, the
// service accounts, its credentials), so the expansion drops them
// (dropOperatorManagedConf) and the check (operatorManagedConfErrors) refuses
// any SparkApplication that still has one. The list is the operator's
// (deniedSparkConfKeys, built from its exported pkg/common names); a test
// built inside the operator's module compares the two.

// OperatorManagedConf maps each sparkConf key spark-operator refuses to why.
var OperatorManagedConf = map[string]string{
	sparkcommon.SparkKubernetesAuthenticateDriverServiceAccountName:   "configure the service account via the CRD spec instead",
	sparkcommon.SparkKubernetesAuthenticateExecutorServiceAccountName: "configure the service account via the CRD spec instead",
	sparkcommon.SparkKubernetesAuthenticateOAuthTokenFile:             "authentication credentials are managed by the operator",
	sparkcommon.SparkKubernetesAuthenticateOAuthToken:                 "authentication credentials are managed by the operator",
	sparkcommon.SparkKubernetesAuthenticateDriverOAuthTokenFile:       "authentication credentials are managed by the operator",
	sparkcommon.SparkKubernetesAuthenticateDriverOAuthToken:           "authentication credentials are managed by the operator",
	sparkcommon.SparkKubernetesAuthenticateExecutorOAuthTokenFile:     "authentication credentials are managed by the operator",
	sparkcommon.SparkKubernetesAuthenticateExecutorOAuthToken:         "authentication credentials are managed by the operator",
	sparkcommon.SparkMaster:                           "this value is managed by the operator",
	sparkcommon.SparkKubernetesDriverMaster:           "this value is managed by the operator",
	sparkcommon.SparkKubernetesContainerImage:         "use the image field on the CRD instead",
	sparkcommon.SparkKubernetesDriverContainerImage:   "use the image field on the CRD instead",
	sparkcommon.SparkKubernetesExecutorContainerImage: "use the image field on the CRD instead",
}

// dropOperatorManagedConf removes from conf the keys spark-operator sets
// itself, and spark.kubernetes.namespace unless it is the application's.
func dropOperatorManagedConf(conf map[string]string, namespace string) {
	for k := range OperatorManagedConf {
		delete(conf, k)
	}
	if v, ok := conf[sparkcommon.SparkKubernetesNamespace]; ok && v != namespace {
		delete(conf, sparkcommon.SparkKubernetesNamespace)
	}
}

// operatorManagedConfErrors reports every sparkConf key of app that
// spark-operator refuses, in key order.
func operatorManagedConfErrors(app *sparkv1beta2.SparkApplication) field.ErrorList {
	keys := make([]string, 0, len(app.Spec.SparkConf))
	for k := range app.Spec.SparkConf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := field.NewPath("spec", "sparkConf")
	var errs field.ErrorList
	for _, k := range keys {
		if why, ok := OperatorManagedConf[k]; ok {
			errs = append(errs, field.Forbidden(p.Key(k), "spark-operator refuses this key: "+why))
		}
		if v := app.Spec.SparkConf[k]; k == sparkcommon.SparkKubernetesNamespace && v != app.Namespace {
			errs = append(errs, field.Invalid(p.Key(k), v, fmt.Sprintf("spark-operator requires the application namespace %q", app.Namespace)))
		}
	}
	return errs
}
