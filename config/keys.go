package config

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

var (
	typeOfConfig      = reflect.TypeOf(Config{})
	typeOfUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
)

// ignoredPluginSections are the other sections Flyte 1.16.8 registers under
// plugins: (flyteplugins' MustRegisterSubSection calls). They configure
// plugins this webhook does not run, so a flytepropeller configuration that
// carries them loads and they are dropped unread; any other unknown section
// is still an error.
var ignoredPluginSections = map[string]bool{
	"agent-service":     true,
	"athena":            true,
	"aws":               true,
	"bigquery":          true,
	"catalogcache":      true,
	"connector-service": true,
	"databricks":        true,
	"echo":              true,
	"k8s-array":         true,
	"kf-operator":       true,
	"presto":            true,
	"snowflake":         true,
}

// normalize walks decoded YAML against the Go type it will be decoded into and
// rewrites it into the one form encoding/json takes, accepting the forms
// Flyte's loader (viper + mapstructure with flytestdlib's hooks) accepts:
//
//   - a map may be written as a list of maps, merged in order with later
//     entries winning (flytestdlib's sliceToMapHook, used for keys with dots
//     or capitals); an empty list is an empty map;
//   - struct keys match their JSON name, or failing that any case of it
//     (viper lowercases keys and mapstructure matches them case-insensitively);
//   - scalars are converted as mapstructure's weakly typed input converts
//     them: numbers and bools into strings (true is "1"), strings and bools
//     into numbers, strings and numbers into bools.
//
// Anything else is an error naming the value's full path
// (plugins.k8s.resource-tolerations[0]).
func normalize(path string, v any, t reflect.Type) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil, nil
	}
	if t.Kind() == reflect.Map {
		return normalizeMap(path, v, t)
	}
	if reflect.PointerTo(t).Implements(typeOfUnmarshaler) {
		return v, nil // quantities, int-or-strings, times: their decoders report errors
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: expected a map, got %s", orRoot(path), describe(v))
		}
		fields := jsonFields(t)
		out := make(map[string]any, len(obj))
		for k, val := range obj {
			name, ft, ok := fieldFor(fields, k)
			if !ok {
				return nil, fmt.Errorf("unknown key %q", join(path, k))
			}
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("%s: key given twice (as %q and another case of it)", join(path, name), k)
			}
			nv, err := normalize(join(path, name), val, ft)
			if err != nil {
				return nil, err
			}
			out[name] = nv
		}
		return out, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return v, nil
		}
		list := weakList(v)
		out := make([]any, len(list))
		for i, val := range list {
			nv, err := normalize(fmt.Sprintf("%s[%d]", path, i), val, t.Elem())
			if err != nil {
				return nil, err
			}
			out[i] = nv
		}
		return out, nil
	case reflect.String:
		return weakString(path, v)
	case reflect.Bool:
		return weakBool(path, v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return weakInt(path, v)
	}
	return v, nil
}

// normalizeMap accepts a map or a list of maps (merged in order) and
// normalizes each value against the map's element type.
func normalizeMap(path string, v any, t reflect.Type) (any, error) {
	var entries []map[string]any
	switch m := v.(type) {
	case map[string]any:
		entries = []map[string]any{m}
	case []any:
		for i, item := range m {
			e, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: expected a map (a list here must hold single-entry maps), got %s", path, i, describe(item))
			}
			entries = append(entries, e)
		}
	default:
		return nil, fmt.Errorf("%s: expected a map or a list of single-entry maps, got %s", orRoot(path), describe(v))
	}
	out := map[string]any{}
	for _, e := range entries {
		for k, val := range e {
			nv, err := normalize(join(path, k), val, t.Elem())
			if err != nil {
				return nil, err
			}
			out[k] = nv
		}
	}
	return out, nil
}

// weakList turns a value into a list as mapstructure's weak input and
// flytestdlib's string-to-slice hook do: a string is split at commas (an
// empty string is an empty list), an empty map is an empty list, and any other
// single value is a list of one.
func weakList(v any) []any {
	switch s := v.(type) {
	case []any:
		return s
	case string:
		if s == "" {
			return []any{}
		}
		parts := strings.Split(s, ",")
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out
	case map[string]any:
		if len(s) == 0 {
			return []any{}
		}
	}
	return []any{v}
}

// weakString converts a scalar into the string mapstructure's weak input
// makes of it.
func weakString(path string, v any) (any, error) {
	switch s := v.(type) {
	case string:
		return s, nil
	case bool:
		if s {
			return "1", nil
		}
		return "0", nil
	case int:
		return strconv.Itoa(s), nil
	case int64:
		return strconv.FormatInt(s, 10), nil
	case uint64:
		return strconv.FormatUint(s, 10), nil
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), nil
	}
	return nil, fmt.Errorf("%s: expected a string, got %s", path, describe(v))
}

// weakBool converts a scalar into a bool as mapstructure's weak input does.
func weakBool(path string, v any) (any, error) {
	switch s := v.(type) {
	case bool:
		return s, nil
	case int:
		return s != 0, nil
	case int64:
		return s != 0, nil
	case uint64:
		return s != 0, nil
	case float64:
		return s != 0, nil
	case string:
		if s == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%s: expected a bool, got %q", path, s)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s: expected a bool, got %s", path, describe(v))
}

// weakInt converts a scalar into an integer as mapstructure's weak input does
// (strings in any Go base prefix, bools as 1 and 0); range errors are left to
// the decoder, which names the field.
func weakInt(path string, v any) (any, error) {
	switch s := v.(type) {
	case int, int64, uint64:
		return s, nil
	case float64:
		if s != math.Trunc(s) {
			return nil, fmt.Errorf("%s: expected an integer, got %v", path, s)
		}
		return s, nil
	case bool:
		if s {
			return 1, nil
		}
		return 0, nil
	case string:
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: expected an integer, got %q", path, s)
		}
		return n, nil
	}
	return nil, fmt.Errorf("%s: expected an integer, got %s", path, describe(v))
}

// describe names a decoded YAML value's kind for an error message.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a bool"
	default:
		return "a number"
	}
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// fieldFor finds a struct field by JSON name: exactly, else case-insensitively.
func fieldFor(fields map[string]reflect.Type, k string) (string, reflect.Type, bool) {
	if ft, ok := fields[k]; ok {
		return k, ft, true
	}
	for name, ft := range fields {
		if strings.EqualFold(name, k) {
			return name, ft, true
		}
	}
	return "", nil, false
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
