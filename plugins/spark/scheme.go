package spark

import (
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	"k8s.io/apimachinery/pkg/runtime"
)

// AddToScheme registers the kind's API group in s (watch.SchemeAdder).
func (Plugin) AddToScheme(s *runtime.Scheme) error { return sparkv1beta2.AddToScheme(s) }
