package ray

import (
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AddToScheme registers the kind's API group in s (watch.SchemeAdder).
func (Plugin) AddToScheme(s *runtime.Scheme) error { return rayv1.AddToScheme(s) }
