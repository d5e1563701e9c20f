package spark

import (
	"github.com/flyte-admission/flyte-admission/task"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invariant: a SparkApplication names its main application file.
//
// Flyte 1.16.8 accepts a task with a main class and no main application file
// (its rule is "either MainApplicationFile or MainClass must be set").
// spark-operator v2.5 then runs spark-submit without a primary resource
// (internal/controller/sparkapplication/submission.go,
// mainApplicationFileOption adds nothing) and spark-submit refuses: "Must
// specify a primary resource (JAR or Python or R file)". Flyte has no rule
// that would supply one, so the expansion refuses the task naming the field
// (mainApplicationFileError) and the check refuses a SparkApplication without
// it (mainApplicationFileErrors).

// mainApplicationFileMessage says why a main application file is required.
const mainApplicationFileMessage = "a main application file is required: spark-operator runs spark-submit, which refuses an application without a primary resource (JAR or Python or R file)"

// mainApplicationFileError refuses a task without a main application file.
func mainApplicationFileError(file string) error {
	if file != "" {
		return nil
	}
	return task.BadSpec(customField+".mainApplicationFile", "%s", mainApplicationFileMessage)
}

// mainApplicationFileErrors checks that app names its main application file.
func mainApplicationFileErrors(app *sparkv1beta2.SparkApplication) field.ErrorList {
	if f := app.Spec.MainApplicationFile; f != nil && *f != "" {
		return nil
	}
	return field.ErrorList{field.Required(field.NewPath("spec", "mainApplicationFile"), mainApplicationFileMessage)}
}
