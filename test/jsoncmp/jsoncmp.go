// Package jsoncmp compares decoded JSON objects the way the conformance
// contract does: empty values dropped, env lists keyed by name, chosen keys
// ignored; and lists the paths where two objects differ.
package jsoncmp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Options say what Normalize drops or reshapes.
type Options struct {
	// EnvByName turns every "env" list into a map keyed by variable name.
	EnvByName bool
	// Ignore are map keys dropped wherever they appear.
	Ignore map[string]bool
}

// StartTime is the Spark conf key holding a timestamp taken at expansion.
const StartTime = "spark.kubernetes.driverEnv.FLYTE_START_TIME"

// Normalize drops empty values (null, "", {}, []) and applies o.
func Normalize(v any, o Options) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			if o.Ignore[k] {
				continue
			}
			if list, ok := x.([]any); ok && k == "env" && o.EnvByName {
				x = envByName(list)
			}
			if n := Normalize(x, o); !Empty(n) {
				out[k] = n
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = Normalize(x, o)
		}
		return out
	}
	return v
}

func envByName(list []any) map[string]any {
	out := make(map[string]any, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		name, _ := m["name"].(string)
		out[name] = m
	}
	return out
}

// Empty reports null, "", {} and [].
func Empty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// Diff lists, sorted, the paths under root where got differs from want.
// allowExtra, if set, may accept a key that only got has.
func Diff(root string, want, got any, allowExtra func(path string, v any) bool) []string {
	var diffs []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			for k := range am {
				walk(path+"."+k, am[k], bm[k])
			}
			for k, v := range bm {
				if _, ok := am[k]; !ok && (allowExtra == nil || !allowExtra(path+"."+k, v)) {
					walk(path+"."+k, nil, v)
				}
			}
			return
		}
		al, aok := a.([]any)
		bl, bok := b.([]any)
		if aok && bok && len(al) == len(bl) {
			for i := range al {
				walk(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i])
			}
			return
		}
		aj, _ := json.Marshal(a)
		bj, _ := json.Marshal(b)
		if !bytes.Equal(aj, bj) {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, got %s", path, aj, bj))
		}
	}
	walk(root, want, got)
	sort.Strings(diffs)
	return diffs
}
