package expand_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
)

// allocated returns the bytes f allocates: an upper bound of what it holds.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// skeleton is an object of kind carrying template.
func skeleton(t testing.TB, apiVersion, kind, template string) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": "big", "namespace": "p-d", "annotations": map[string]string{task.TemplateAnnotation: template}}})
	require.NoError(t, err)
	return raw
}

// containers is a k8sPod with n small containers, the first one primary.
func containers(n int) string {
	var b strings.Builder
	b.WriteString(`"config":{"primary_container_name":"c0"},"k8sPod":{"podSpec":{"containers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"c%d","image":"i"}`, i)
	}
	b.WriteString(`]}}`)
	return b.String()
}

// TestOutputAmplification: templates within the annotation limit that
// would make objects far larger than the apiserver stores are refused,
// naming the field that made them large, before the object is built.
func TestOutputAmplification(t *testing.T) {
	x := newExpander(t, "../examples/config/plugins.yaml")
	bigArgs := `"container":{"image":"i","args":["` + strings.Repeat("a", 100<<10) + `"]}`
	groups := strings.TrimSuffix(strings.Repeat(`{"groupName":"g","replicas":1},`, 200), ",")
	cases := []struct {
		name, apiVersion, kind, template, field string
	}{
		{"spark: 6,000 containers", "sparkoperator.k8s.io/v1beta2", "SparkApplication",
			`{"type":"spark","custom":{"mainClass":"M"},` + containers(6_000) + `}`, ".k8sPod.podSpec"},
		{"dask: 6,000 containers", "kubernetes.dask.org/v1", "DaskJob",
			`{"type":"dask","custom":{},` + containers(6_000) + `}`, ".k8sPod.podSpec"},
		{"ray: 200 worker groups of a 100 KB pod", "ray.io/v1", "RayJob",
			`{"type":"ray",` + bigArgs + `,"custom":{"rayCluster":{"workerGroupSpec":[` + groups + `]}}}`, ".custom.rayCluster.workerGroupSpec["},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := skeleton(t, c.apiVersion, c.kind, c.template)
			require.Less(t, len(raw), task.MaxAnnotationBytes)
			var err error
			n := allocated(func() { _, err = x.ExpandRaw(context.Background(), raw, nil) })
			var e *expand.Error
			require.ErrorAs(t, err, &e)
			require.Contains(t, e.Field, c.field)
			require.Contains(t, e.Message, "the apiserver stores")
			t.Logf("refused %d bytes of input having allocated %d", len(raw), n)
			require.Less(t, n, uint64(40*len(raw)+16<<20), "allocated %d bytes for %d bytes of input", n, len(raw))
		})
	}
}

// TestCancelledExpansion: an expansion whose deadline passed stops.
func TestCancelledExpansion(t *testing.T) {
	x := newExpander(t, "../examples/config/plugins.yaml")
	raw := skeleton(t, "ray.io/v1", "RayJob", `{"type":"ray","container":{"image":"i"},"custom":{"rayCluster":{"workerGroupSpec":[{"groupName":"g"}]}}}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := x.ExpandRaw(ctx, raw, nil)
	require.ErrorIs(t, err, context.Canceled)
	_, err = x.ExpandRaw(context.Background(), raw, nil)
	require.NoError(t, err)
}
