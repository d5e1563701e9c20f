package dask

import "encoding/json"

// crdDefaults are the defaults of the operator's CRD schema outside lists
// (checked against the CRD in the operator module by TestCRDDefaults).
var crdDefaults = map[string]any{
	"spec.cluster.spec.idleTimeout":     json.Number("0"),
	"spec.cluster.spec.worker.replicas": json.Number("1"),
	"spec.job.spec.restartPolicy":       "OnFailure",
}

// CRDDefaults implements expand.Plugin.
func (Plugin) CRDDefaults() map[string]any { return crdDefaults }
