package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

var (
	typeOfConfig      = reflect.TypeOf(Config{})
	typeOfStringMap   = reflect.TypeOf(StringMap{})
	typeOfUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
)

// checkKeys walks decoded JSON against a Go type and reports the first key the
// type does not have, by its full path (plugins.k8s.default-cpu).
func checkKeys(path string, v any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == typeOfStringMap {
		return nil // its own decoder checks the shape
	}
	if reflect.PointerTo(t).Implements(typeOfUnmarshaler) {
		return nil // quantities, int-or-strings, times: their decoders report errors
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // type errors are reported by the decoder with the field name
		}
		fields := jsonFields(t)
		for k, val := range obj {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("unknown key %q", join(path, k))
			}
			if err := checkKeys(join(path, k), val, ft); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for k, val := range obj {
			if err := checkKeys(join(path, k), val, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, val := range list {
			if err := checkKeys(fmt.Sprintf("%s[%d]", path, i), val, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonFields maps a struct's JSON names (following inline embedding) to types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
