package main

import (
	"os"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins/ray"
	"github.com/flyte-admission/flyte-admission/plugins/spark"
	"github.com/stretchr/testify/require"
)

// deviation is one documented difference between Flyte 1.16.8's output and
// ours, made so that the operators accept and run the object. Apply turns
// Flyte's expected output of a conformance case into ours and reports
// whether it changed anything; the comparison then proves parity everywhere
// else. Each has a row in the README table (anchor "deviation-" + ID).
type deviation struct {
	ID    string
	Kind  string
	Apply func(expected map[string]any, c conformanceCase) bool
}

// conformanceCase is what a deviation may need to know about its case.
type conformanceCase struct {
	Namespace string
}

// operatorDeviations are all the documented deviations, in the order they
// apply (the Ray container is moved first before the submitter is read).
var operatorDeviations = []deviation{
	{ID: "ray-container-first", Kind: "ray", Apply: rayContainerFirst},
	{ID: "ray-submitter-command", Kind: "ray", Apply: raySubmitterCommand},
	{ID: "ray-ttl-kept-cluster", Kind: "ray", Apply: rayTTLKeptCluster},
	{ID: "spark-operator-managed-conf", Kind: "spark", Apply: sparkOperatorManagedConf},
	{ID: "spark-main-application-file", Kind: "spark", Apply: sparkMainApplicationFile},
}

// applyDeviations applies every deviation of kind to expected and returns
// the IDs of those that changed it.
func applyDeviations(kind string, expected map[string]any, c conformanceCase) []string {
	var applied []string
	for _, d := range operatorDeviations {
		if d.Kind == kind && d.Apply(expected, c) {
			applied = append(applied, d.ID)
		}
	}
	return applied
}

func child(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

func containersOf(pod map[string]any) []any {
	list, _ := child(pod, "spec")["containers"].([]any)
	return list
}

func containerName(c any) string {
	m, _ := c.(map[string]any)
	s, _ := m["name"].(string)
	return s
}

// moveFirst moves list[i] to the front, keeping the others' order.
func moveFirst(list []any, i int) bool {
	if i <= 0 || i >= len(list) {
		return false
	}
	c := list[i]
	copy(list[1:i+1], list[:i])
	list[0] = c
	return true
}

// rayContainerFirst: KubeRay runs Ray in containers[0]; the Ray container
// (and the submitter's primary container, at the head's index in Flyte's
// output) comes first.
func rayContainerFirst(exp map[string]any, _ conformanceCase) bool {
	spec := child(exp, "spec")
	cs := child(spec, "rayClusterSpec")
	changed := false
	head := containersOf(child(cs, "headGroupSpec", "template"))
	primary := -1
	for i, c := range head {
		if containerName(c) == ray.HeadContainer {
			primary = i
		}
	}
	changed = moveFirst(head, primary) || changed
	changed = moveFirst(containersOf(child(spec, "submitterPodTemplate")), primary) || changed
	groups, _ := cs["workerGroupSpecs"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		w := containersOf(child(gm, "template"))
		for i, c := range w {
			if containerName(c) == ray.WorkerContainer {
				changed = moveFirst(w, i) || changed
			}
		}
	}
	return changed
}

// raySubmitterCommand: the submitter has no command (KubeRay fills in `ray
// job submit`), and the entrypoint starts with the command it had.
func raySubmitterCommand(exp map[string]any, _ conformanceCase) bool {
	spec := child(exp, "spec")
	sub := containersOf(child(spec, "submitterPodTemplate"))
	if len(sub) == 0 {
		return false
	}
	c, _ := sub[0].(map[string]any)
	cmd, _ := c["command"].([]any)
	if len(cmd) == 0 {
		return false
	}
	parts := make([]string, 0, len(cmd)+1)
	for _, a := range cmd {
		s, _ := a.(string)
		if s == "" {
			s = "''"
		}
		parts = append(parts, s)
	}
	if e, _ := spec["entrypoint"].(string); e != "" {
		parts = append(parts, e)
	}
	spec["entrypoint"] = strings.Join(parts, " ")
	delete(c, "command")
	return true
}

// rayTTLKeptCluster: no ttlSecondsAfterFinished when the cluster is kept.
func rayTTLKeptCluster(exp map[string]any, _ conformanceCase) bool {
	spec := child(exp, "spec")
	if shutdown, _ := spec["shutdownAfterJobFinishes"].(bool); shutdown {
		return false
	}
	if _, ok := spec["ttlSecondsAfterFinished"]; !ok {
		return false
	}
	delete(spec, "ttlSecondsAfterFinished")
	return true
}

// sparkOperatorManagedConf: sparkConf without the keys spark-operator sets
// itself.
func sparkOperatorManagedConf(exp map[string]any, c conformanceCase) bool {
	conf := child(exp, "spec", "sparkConf")
	changed := false
	for k, v := range conf {
		_, managed := spark.OperatorManagedConf[k]
		if managed || (k == "spark.kubernetes.namespace" && v != c.Namespace) {
			delete(conf, k)
			changed = true
		}
	}
	return changed
}

// sparkMainApplicationFile: a task without a main application file is
// refused.
func sparkMainApplicationFile(exp map[string]any, _ conformanceCase) bool {
	spec := child(exp, "spec")
	if spec == nil {
		return false // Flyte refused it already
	}
	if f, _ := spec["mainApplicationFile"].(string); f != "" {
		return false
	}
	for k := range exp {
		delete(exp, k)
	}
	exp["error"] = "a main application file is required"
	return true
}

// TestDeviationsDocumented: every deviation has its row in the README table.
func TestDeviationsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, d := range operatorDeviations {
		require.True(t, strings.Contains(string(readme), `<a id="deviation-`+d.ID+`"></a>`), "README has no row for deviation %s", d.ID)
	}
}

// TestDeviationsApply: each deviation turns a Flyte output into ours and
// leaves an output it does not concern alone.
func TestDeviationsApply(t *testing.T) {
	obj := func(spec map[string]any) map[string]any { return map[string]any{"spec": spec} }
	cases := []struct {
		name    string
		kind    string
		flyte   map[string]any
		ours    map[string]any
		applied []string
	}{
		{"kept cluster loses its TTL", "ray",
			obj(map[string]any{"shutdownAfterJobFinishes": false, "ttlSecondsAfterFinished": 3600.0}),
			obj(map[string]any{"shutdownAfterJobFinishes": false}), []string{"ray-ttl-kept-cluster"}},
		{"shut-down cluster keeps its TTL", "ray",
			obj(map[string]any{"shutdownAfterJobFinishes": true, "ttlSecondsAfterFinished": 600.0}),
			obj(map[string]any{"shutdownAfterJobFinishes": true, "ttlSecondsAfterFinished": 600.0}), nil},
		{"sidecar first, submitter with a command", "ray",
			obj(map[string]any{"shutdownAfterJobFinishes": true, "entrypoint": "-m app",
				"rayClusterSpec": map[string]any{"headGroupSpec": map[string]any{"template": map[string]any{"spec": map[string]any{
					"containers": []any{map[string]any{"name": "envoy"}, map[string]any{"name": "ray-head"}}}}}},
				"submitterPodTemplate": map[string]any{"spec": map[string]any{"containers": []any{
					map[string]any{"name": "envoy"}, map[string]any{"name": "main", "command": []any{"python"}}}}}}),
			obj(map[string]any{"shutdownAfterJobFinishes": true, "entrypoint": "python -m app",
				"rayClusterSpec": map[string]any{"headGroupSpec": map[string]any{"template": map[string]any{"spec": map[string]any{
					"containers": []any{map[string]any{"name": "ray-head"}, map[string]any{"name": "envoy"}}}}}},
				"submitterPodTemplate": map[string]any{"spec": map[string]any{"containers": []any{
					map[string]any{"name": "main"}, map[string]any{"name": "envoy"}}}}}),
			[]string{"ray-container-first", "ray-submitter-command"}},
		{"spark.master dropped, own namespace kept", "spark",
			obj(map[string]any{"mainApplicationFile": "local:///a.py", "sparkConf": map[string]any{"spark.master": "k8s://x", "spark.kubernetes.namespace": "p-d", "a": "b"}}),
			obj(map[string]any{"mainApplicationFile": "local:///a.py", "sparkConf": map[string]any{"spark.kubernetes.namespace": "p-d", "a": "b"}}),
			[]string{"spark-operator-managed-conf"}},
		{"no main application file is refused", "spark",
			obj(map[string]any{"mainClass": "M"}),
			map[string]any{"error": "a main application file is required"}, []string{"spark-main-application-file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.applied, applyDeviations(c.kind, c.flyte, conformanceCase{Namespace: "p-d"}))
			require.Equal(t, c.ours, c.flyte)
		})
	}
}
