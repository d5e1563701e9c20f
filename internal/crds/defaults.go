package crds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// Defaults returns the values the CRD of kind (among sources' CRDs) defaults in its storage
// version's schema, keyed by dotted path from the object root ("[]" marks a
// list item: spec.rayClusterSpec.workerGroupSpecs[].numOfHosts). Values are
// decoded JSON with numbers as json.Number.
func Defaults(kind string, sources []Source) (map[string]any, error) {
	files, err := Files(sources)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if crd.Spec.Names.Kind != kind {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if !v.Storage || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			out := map[string]any{}
			if err := collectDefaults("", v.Schema.OpenAPIV3Schema, out); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("no CRD of kind %s among the operators' CRDs", kind)
}

func collectDefaults(path string, s *apiextensionsv1.JSONSchemaProps, out map[string]any) error {
	if s.Default != nil {
		var v any
		d := json.NewDecoder(bytes.NewReader(s.Default.Raw))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("default of %s: %w", path, err)
		}
		out[path] = v
	}
	for name, p := range s.Properties {
		child := name
		if path != "" {
			child = path + "." + name
		}
		if err := collectDefaults(child, &p, out); err != nil {
			return err
		}
	}
	if s.Items != nil && s.Items.Schema != nil {
		return collectDefaults(path+"[]", s.Items.Schema, out)
	}
	return nil
}
