package expand

import (
	"slices"

	"github.com/flyte-admission/flyte-admission/task"
)

// markerAnnotation is the provenance marker's key.
const markerAnnotation = task.ExpandedFromAnnotation

// metadataOps returns first, then the operations that lay the generated
// metadata of gen (labels, annotations, the finalizer) and the marker over
// the user's metadata om, in Diff's order, as Diff(obj, mergeObject(…))
// writes them for an expansion with nothing generated before: generated
// entries the user left out are added, the user's own stay, the marker is
// set. It reports false for metadata it does not handle (none at all, a
// value that is not a map of strings, a null, finalizers of the user's own):
// Diff then takes it. gen's annotations get the marker.
func metadataOps(om map[string]any, gen *generated, marker string, first Op) ([]Op, bool) {
	if om == nil {
		return nil, false // Diff adds the whole metadata
	}
	ops := make([]Op, 1, 6)
	ops[0] = first
	ops, ok := mapOps(ops, "/metadata/annotations", om, "annotations", gen.annotations, marker)
	if !ok {
		return nil, false
	}
	if gen.finalizer {
		if _, had := om["finalizers"]; had {
			return nil, false
		}
		ops = append(ops, Op{Op: "add", Path: "/metadata/finalizers", Value: []any{finalizer}})
	}
	if ops, ok = mapOps(ops, "/metadata/labels", om, "labels", gen.labels, ""); !ok {
		return nil, false
	}
	return ops, true
}

// mapOps appends the operations for the user's map om[key] (at path) with
// the generated entries gen and, if marker is set, the marker annotation
// (set in gen too: the merged map).
func mapOps(ops []Op, path string, om map[string]any, key string, gen map[string]string, marker string) ([]Op, bool) {
	user, had := om[key]
	if !had {
		if marker != "" {
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
	if marker != "" {
		gen[markerAnnotation] = marker
		if um[markerAnnotation] != marker {
			keys = append(keys, markerAnnotation)
		}
	}
	slices.Sort(keys)
	var p []byte
	for _, k := range keys {
		op := "add"
		if _, set := um[k]; set {
			op = "replace" // only the marker: the user's other values win
		}
		p = appendKey(append(p[:0], path...), k)
		ops = append(ops, Op{Op: op, Path: string(p), Value: gen[k]})
	}
	return ops, true
}
