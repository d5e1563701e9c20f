package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// The policies file. Every key is optional; a policy is on when its key is
// present (forbid-privileged: {} turns it on in enforce mode):
//
//	exempt-namespaces: [kube-system]      # exempt from everything, invariants included
//	invariants: {mode: enforce}           # the plugins' invariants
//	allowed-registries:
//	  mode: warn                          # enforce (default) | warn | audit
//	  exempt-namespaces: [sandbox]
//	  registries: [ghcr.io/flyteorg, 123456789012.dkr.ecr.us-east-1.amazonaws.com/]
//	max-resources:
//	  per-pod: {cpu: 16, memory: 64Gi, gpu: 8}
//	  per-job: {cpu: 256, memory: 1Ti, gpu: 32}
//	  gpu-resource-names: [nvidia.com/gpu]
//	required-labels: {labels: [team]}
//	forbid-privileged: {}
//	forbid-host-path: {mode: audit}
type file struct {
	ExemptNamespaces  []string           `json:"exempt-namespaces"`
	Invariants        *common            `json:"invariants"`
	AllowedRegistries *registriesSection `json:"allowed-registries"`
	MaxResources      *resourcesSection  `json:"max-resources"`
	RequiredLabels    *labelsSection     `json:"required-labels"`
	ForbidPrivileged  *common            `json:"forbid-privileged"`
	ForbidHostPath    *common            `json:"forbid-host-path"`
}

type common struct {
	Mode             Mode     `json:"mode"`
	ExemptNamespaces []string `json:"exempt-namespaces"`
}

type registriesSection struct {
	common
	Registries []string `json:"registries"`
}

type resourcesSection struct {
	common
	PerPod           *limitsSection `json:"per-pod"`
	PerJob           *limitsSection `json:"per-job"`
	GPUResourceNames []string       `json:"gpu-resource-names"`
}

type limitsSection struct {
	CPU    *quantity `json:"cpu"`
	Memory *quantity `json:"memory"`
	GPU    *quantity `json:"gpu"`
}

type labelsSection struct {
	common
	Labels []string `json:"labels"`
}

// quantity keeps a quantity's text (YAML may write it as a number) so that a
// bad one is reported with its key.
type quantity string

func (q *quantity) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*q = quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("want a quantity (a string or a number), got %s", data)
	}
	*q = quantity(n)
	return nil
}

// Load reads a policies file; an empty path gives Default().
func Load(path string) (*Set, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("policies %s: %w", path, err)
	}
	return s, nil
}

// Parse decodes a policies file (YAML or JSON). Unknown keys and bad values
// are errors naming the key (max-resources.per-pod.cpu).
func Parse(data []byte) (*Set, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return Default(), nil
	}
	var raw any
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if _, ok := raw.(map[string]any); !ok {
		return nil, fmt.Errorf("want a map of policies, got %s", describe(raw))
	}
	if err := checkKeys("", raw, reflect.TypeOf(file{})); err != nil {
		return nil, err
	}
	var f file
	if err := json.Unmarshal(js, &f); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return f.build()
}

func (f *file) build() (*Set, error) {
	rule := func(key string, c *common, p Policy) (Rule, error) {
		mode, err := c.mode(key)
		return Rule{Policy: p, Mode: mode, ExemptNamespaces: c.ExemptNamespaces}, err
	}
	inv := Rule{Mode: Enforce}
	if f.Invariants != nil {
		var err error
		if inv, err = rule("invariants", f.Invariants, nil); err != nil {
			return nil, err
		}
	}
	var rules []Rule
	add := func(key string, c *common, p Policy) error {
		r, err := rule(key, c, p)
		if err != nil {
			return err
		}
		rules = append(rules, r)
		return nil
	}
	if s := f.AllowedRegistries; s != nil {
		if len(s.Registries) == 0 {
			return nil, fmt.Errorf("allowed-registries.registries: list at least one registry or repository prefix")
		}
		for i, r := range s.Registries {
			if strings.TrimSpace(r) == "" {
				return nil, fmt.Errorf("allowed-registries.registries[%d]: empty prefix (it would allow every image)", i)
			}
		}
		if err := add("allowed-registries", &s.common, AllowedRegistries{Prefixes: s.Registries}); err != nil {
			return nil, err
		}
	}
	if s := f.MaxResources; s != nil {
		p := MaxResources{}
		var err error
		if p.PerPod, err = s.PerPod.limits("max-resources.per-pod"); err != nil {
			return nil, err
		}
		if p.PerJob, err = s.PerJob.limits("max-resources.per-job"); err != nil {
			return nil, err
		}
		if s.PerPod == nil && s.PerJob == nil {
			return nil, fmt.Errorf("max-resources: set per-pod or per-job (or both)")
		}
		if s.GPUResourceNames != nil {
			p.GPUResourceNames = make([]corev1.ResourceName, len(s.GPUResourceNames))
			for i, n := range s.GPUResourceNames {
				p.GPUResourceNames[i] = corev1.ResourceName(n)
			}
		}
		if err := add("max-resources", &s.common, p); err != nil {
			return nil, err
		}
	}
	if s := f.RequiredLabels; s != nil {
		if len(s.Labels) == 0 {
			return nil, fmt.Errorf("required-labels.labels: list at least one label")
		}
		if err := add("required-labels", &s.common, RequiredLabels{Labels: s.Labels}); err != nil {
			return nil, err
		}
	}
	if s := f.ForbidPrivileged; s != nil {
		if err := add("forbid-privileged", s, ForbidPrivileged{}); err != nil {
			return nil, err
		}
	}
	if s := f.ForbidHostPath; s != nil {
		if err := add("forbid-host-path", s, ForbidHostPath{}); err != nil {
			return nil, err
		}
	}
	return NewSet(f.ExemptNamespaces, inv, rules...), nil
}

func (c *common) mode(key string) (Mode, error) {
	switch c.Mode {
	case "":
		return Enforce, nil
	case Enforce, Warn, Audit:
		return c.Mode, nil
	}
	return "", fmt.Errorf("%s.mode: unknown mode %q (want enforce, warn or audit)", key, c.Mode)
}

func (l *limitsSection) limits(key string) (Limits, error) {
	var out Limits
	if l == nil {
		return out, nil
	}
	for _, x := range []struct {
		name string
		in   *quantity
		out  **resource.Quantity
	}{{"cpu", l.CPU, &out.CPU}, {"memory", l.Memory, &out.Memory}, {"gpu", l.GPU, &out.GPU}} {
		if x.in == nil {
			continue
		}
		q, err := resource.ParseQuantity(string(*x.in))
		if err != nil {
			return out, fmt.Errorf("%s.%s: invalid quantity %q: %v", key, x.name, string(*x.in), err)
		}
		if q.Sign() < 0 {
			return out, fmt.Errorf("%s.%s: negative quantity %q", key, x.name, string(*x.in))
		}
		*x.out = &q
	}
	return out, nil
}

var typeOfUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// checkKeys walks decoded JSON against a Go type and reports the first key
// the type does not have, by its full path.
func checkKeys(path string, v any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(typeOfUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			if v == nil {
				return nil
			}
			return fmt.Errorf("%s: want a map, got %s", path, describe(v))
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("unknown key %q (known: %s)", join(path, k), strings.Join(sortedKeys(fields), ", "))
			}
			if err := checkKeys(join(path, k), obj[k], ft); err != nil {
				return err
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			if v == nil {
				return nil
			}
			return fmt.Errorf("%s: want a list, got %s", path, describe(v))
		}
		for i, x := range list {
			if err := checkKeys(fmt.Sprintf("%s[%d]", path, i), x, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok && v != nil {
			return fmt.Errorf("%s: want a string, got %s", path, describe(v))
		}
	}
	return nil
}

func describe(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", v)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// jsonFields maps a struct's JSON names (following embedding) to types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = f.Type
	}
	return out
}
