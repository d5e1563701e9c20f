package ray

import "encoding/json"

// crdDefaults are the defaults of the operator's CRD schema outside lists
// (checked against the CRD in the operator module by TestCRDDefaults).
var crdDefaults = map[string]any{
	"spec.backoffLimit":            json.Number("0"),
	"spec.submissionMode":          "K8sJobMode",
	"spec.ttlSecondsAfterFinished": json.Number("0"),
}

// CRDDefaults implements expand.Plugin.
func (Plugin) CRDDefaults() map[string]any { return crdDefaults }
