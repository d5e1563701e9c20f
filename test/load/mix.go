package load

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Job is one Spark, Ray or Dask object of the examples: the skeleton as
// written and its expansion (done offline, as the mutating webhook would).
type Job struct {
	// Source is the file the object came from.
	Source   string
	GVK      schema.GroupVersionKind
	Skeleton map[string]any
	Expanded map[string]any
}

// Jobs reads the Spark, Ray and Dask objects of the example files in dir and
// expands each with the plugin configuration at configPath.
func Jobs(dir, configPath string) ([]Job, error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, err
	}
	objs, err := objects.ReadPath(dir)
	if err != nil {
		return nil, err
	}
	reg := builtin.Registry()
	x := &expand.Expander{Registry: reg, Env: plugins.Env{Config: cfg, Templates: objects.PodTemplates{}}}
	var out []Job
	for _, o := range objs {
		gvk := schema.FromAPIVersionAndKind(o.Map["apiVersion"].(string), o.Map["kind"].(string))
		if _, ok := reg.ForKind(gvk.GroupKind()); !ok {
			continue
		}
		res, err := x.Expand(context.Background(), o.Map, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: expand: %w", o.Source, err)
		}
		out = append(out, Job{Source: o.Source, GVK: gvk, Skeleton: o.Map, Expanded: res.Object()})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Spark, Ray or Dask objects in %s", filepath.Clean(dir))
	}
	return out, nil
}

// Mix builds the benchmark's requests from the Spark, Ray and Dask objects of
// the example files in dir, expanded offline with the plugin configuration
// at configPath (Jobs): for each object, a mutating CREATE of the skeleton, a
// mutating UPDATE of the expanded object (a label changed), and a validating
// CREATE and UPDATE of the expanded object. The order interleaves kinds and
// operations.
func Mix(dir, configPath string) ([]Request, error) {
	jobs, err := Jobs(dir, configPath)
	if err != nil {
		return nil, err
	}
	var groups [][]Request
	for _, j := range jobs {
		gvk := j.GVK
		skeleton, err := json.Marshal(j.Skeleton)
		if err != nil {
			return nil, err
		}
		expanded, err := json.Marshal(j.Expanded)
		if err != nil {
			return nil, err
		}
		relabelled, err := relabel(j.Expanded)
		if err != nil {
			return nil, err
		}
		meta := j.Skeleton["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		base := strings.ToLower(gvk.Kind) + "/" + name
		var g []Request
		for _, r := range []struct {
			path, op    string
			obj, oldObj []byte
		}{
			{"/mutate", "CREATE", skeleton, nil},
			{"/mutate", "UPDATE", relabelled, expanded},
			{"/validate", "CREATE", expanded, nil},
			{"/validate", "UPDATE", relabelled, expanded},
		} {
			uid := fmt.Sprintf("%s-%s-%d", strings.TrimPrefix(r.path, "/"), strings.ToLower(r.op), len(groups))
			body, err := reviewBody(uid, gvk, ns, name, r.op, r.obj, r.oldObj)
			if err != nil {
				return nil, err
			}
			g = append(g, Request{Name: base + " " + r.path + " " + r.op, Path: r.path, UID: uid, Body: body})
		}
		groups = append(groups, g)
	}
	// Operation-major order: each stretch of requests mixes kinds.
	var out []Request
	for op := 0; op < 4; op++ {
		for _, g := range groups {
			out = append(out, g[op])
		}
	}
	return out, nil
}

// relabel is obj with one more label: an UPDATE that keeps the task
// annotations (GitOps re-apply, a controller's label).
func relabel(obj map[string]any) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	meta := m["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels["bench.flyte.org/touched"] = "true"
	meta["labels"] = labels
	return json.Marshal(m)
}

func reviewBody(uid string, gvk schema.GroupVersionKind, ns, name, op string, obj, old []byte) ([]byte, error) {
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID(uid),
		Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"},
		Name:      name,
		Namespace: ns,
		Operation: admissionv1.Operation(op),
		UserInfo:  authenticationv1.UserInfo{Username: "load-bench", Groups: []string{"system:authenticated"}},
		Object:    runtime.RawExtension{Raw: obj},
	}
	if old != nil {
		req.OldObject = runtime.RawExtension{Raw: old}
	}
	return json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
}
