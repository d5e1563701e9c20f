package spark

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invariant: a SparkApplication's name is a DNS-1035 label.
//
// spark-operator v2.5 refuses any other name (internal/webhook/
// sparkapplication_validator.go, validateName: the driver's Service is named
// after it); Flyte 1.16.8 does not check. The expansion refuses a task whose
// object has such a name and the check refuses the object. An empty name is
// left alone: the apiserver generates it (generateName) before validating
// admission.

// applicationNameErrors checks name as spark-operator does.
func applicationNameErrors(name string) field.ErrorList {
	if name == "" {
		return nil
	}
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), name,
			fmt.Sprintf("spark-operator refuses this SparkApplication name: %s", strings.Join(errs, ", ")))}
	}
	return nil
}
