package spark

// crdDefaults are the defaults of the operator's CRD schema outside lists
// (checked against the CRD in the operator module by TestCRDDefaults).
var crdDefaults = map[string]any{}

// CRDDefaults implements expand.Plugin.
func (Plugin) CRDDefaults() map[string]any { return crdDefaults }
