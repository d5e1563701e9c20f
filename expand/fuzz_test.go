package expand_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/task"
)

// FuzzExpandRaw: any object bytes yield a result or an *expand.Error with a
// message, never a panic; a patch always re-encodes as valid JSON.
func FuzzExpandRaw(f *testing.F) {
	files, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob(conformance + "/*/*/skeleton.yaml")
	for _, file := range append(files, more...) {
		for _, o := range readObjects(f, file) {
			raw, err := json.Marshal(o.Map)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"apiVersion":"ray.io/v1","kind":"RayJob","metadata":{"annotations":{"flyte.org/task-template":"type: ray"}}}`))
	f.Add([]byte(`{"apiVersion":"kubernetes.dask.org/v1","kind":"DaskJob","metadata":null,"spec":[]}`))
	x := newExpander(f, "../examples/config/plugins.yaml")
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := x.ExpandRaw(context.Background(), raw, nil)
		if err != nil {
			var e *expand.Error
			if !asError(err, &e) || e.Message == "" {
				t.Fatalf("error without a message: %#v", err)
			}
			return
		}
		// What the generator alone made (a skeleton with no spec of its
		// own) passes the validating webhook; fields a user writes are
		// the user's, and refused there.
		if res.Plugin != nil && res.Skipped == "" && emptySpec(raw) {
			if errs := validateExpanded(t, res, x.Env.Config); len(errs) > 0 {
				t.Fatalf("the webhook refuses its own expansion: %v", errs.ToAggregate())
			}
		}
		patch, err := res.PatchJSON()
		if err != nil {
			t.Fatalf("patch does not encode: %v", err)
		}
		if ops, err := expand.MarshalPatch(res.Patch); err != nil || string(ops) != string(patch) {
			t.Fatalf("the patch as written (%s) is not the patch of its operations (%s, %v)", patch, ops, err)
		}
		if !json.Valid(patch) {
			t.Fatalf("patch is not valid JSON: %s", patch)
		}
		// However the patch was written, it is Diff's between the input and
		// the expanded object (in the order of a framed patch).
		if input, err := expand.DecodeObject(raw); err == nil && len(res.Patch) > 0 {
			ours, _ := expand.MarshalPatch(expand.SpecFirst(res.Patch))
			if diffed, err := expand.MarshalPatch(expand.SpecFirst(expand.Diff(input, res.Object()))); err != nil || string(diffed) != string(ours) {
				t.Fatalf("the patch (%s) is not Diff's (%s, %v)", ours, diffed, err)
			}
		}
		// The output is bounded whatever the input: a patch never exceeds
		// what the apiserver could store plus the input it came with.
		if len(patch) > task.MaxObjectBytes+2*len(raw) {
			t.Fatalf("a %d-byte input made a %d-byte patch", len(raw), len(patch))
		}
	})
}

func asError(err error, target **expand.Error) bool {
	e, ok := err.(*expand.Error)
	if ok {
		*target = e
	}
	return ok
}

// emptySpec reports whether the object has no spec of its own.
func emptySpec(raw []byte) bool {
	obj, err := expand.DecodeObject(raw)
	if err != nil {
		return false
	}
	spec, ok := obj["spec"]
	if !ok || spec == nil {
		return true
	}
	m, ok := spec.(map[string]any)
	return ok && len(m) == 0
}
