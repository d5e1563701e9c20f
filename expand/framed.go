package expand

import (
	"slices"

	"github.com/flyte-admission/flyte-admission/task"
)

// markerAnnotation is the provenance marker's key.
const markerAnnotation = task.ExpandedFromAnnotation

// metadataOps returns the operations that lay the generated metadata gm
// (labels, annotations, finalizers) and the marker over the user's metadata
// om, in Diff's order, as Diff(obj, mergeObject(…)) writes them for an
// expansion with nothing generated before: generated entries the user left
// out are added, the user's own stay, the marker is set. It reports false
// for metadata it does not handle (none at all, a value that is not a map of
// strings, a null, finalizers of the user's own): Diff then takes it.
func metadataOps(om, gm map[string]any, marker string) ([]Op, bool) {
	if om == nil {
		return nil, false // Diff adds the whole metadata
	}
	ops := make([]Op, 0, 4)
	ga, _ := gm["annotations"].(map[string]any)
	ops, ok := mapOps(ops, "/metadata/annotations", om, "annotations", ga, marker)
	if !ok {
		return nil, false
	}
	if f, ok := gm["finalizers"]; ok {
		if _, had := om["finalizers"]; had {
			return nil, false
		}
		ops = append(ops, Op{Op: "add", Path: "/metadata/finalizers", Value: f})
	}
	gl, _ := gm["labels"].(map[string]any)
	if ops, ok = mapOps(ops, "/metadata/labels", om, "labels", gl, ""); !ok {
		return nil, false
	}
	return ops, true
}

// mapOps appends the operations for the user's map om[key] (at path) with
// the generated entries gen and, if marker is set, the marker annotation.
func mapOps(ops []Op, path string, om map[string]any, key string, gen map[string]any, marker string) ([]Op, bool) {
	user, had := om[key]
	if !had {
		if marker != "" {
			if gen == nil {
				gen = make(map[string]any, 1)
			}
			gen[markerAnnotation] = marker // gen is this expansion's own
		}
		if len(gen) > 0 {
			ops = append(ops, Op{Op: "add", Path: path, Value: gen})
		}
		return ops, true
	}
	um, ok := user.(map[string]any)
	if !ok {
		return nil, false
	}
	for _, v := range um {
		if _, ok := v.(string); !ok {
			return nil, false
		}
	}
	keys := make([]string, 0, len(gen)+1)
	for k := range gen {
		if _, mine := um[k]; !mine && k != markerAnnotation {
			keys = append(keys, k)
		}
	}
	if marker != "" && um[markerAnnotation] != marker {
		keys = append(keys, markerAnnotation)
	}
	slices.Sort(keys)
	var p []byte
	for _, k := range keys {
		op, v := "add", gen[k]
		if k == markerAnnotation && marker != "" {
			v = marker
			if _, set := um[k]; set {
				op = "replace"
			}
		}
		p = appendKey(append(p[:0], path...), k)
		ops = append(ops, Op{Op: op, Path: string(p), Value: v})
	}
	return ops, true
}
