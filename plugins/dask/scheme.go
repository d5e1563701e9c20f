package dask

import (
	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AddToScheme registers the kind's API group in s (watch.SchemeAdder).
func (Plugin) AddToScheme(s *runtime.Scheme) error { return daskv1.AddToScheme(s) }
