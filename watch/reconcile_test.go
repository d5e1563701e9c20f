package watch

import (
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyte-admission/flyte-admission/tasklog"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func TestReportOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		info plugins.PhaseInfo
		want report
	}{
		{"reason wins over message", plugins.PhaseInfo{Phase: "Queued", Reason: "job queued", Message: "m"},
			report{"Queued", "job queued", "[]"}},
		{"message when no reason", plugins.PhaseInfo{Phase: "RetryableFailure", Message: "Dask Job failed", Code: "X"},
			report{"RetryableFailure", "Dask Job failed", "[]"}},
		{"links keep only name and uri", plugins.PhaseInfo{Phase: "Running", Logs: []tasklog.Link{
			{Name: "Spark Driver UI", URI: "https://ui/x?a=1&b=<2>", MessageFormat: "JSON", ShowWhilePending: true}}},
			report{"Running", "", `[{"name":"Spark Driver UI","uri":"https://ui/x?a=1\u0026b=\u003c2\u003e"}]`}},
	} {
		t.Run(tt.name, func(t *testing.T) { require.Equal(t, tt.want, reportOf(tt.info)) })
	}
}

func TestBookGauge(t *testing.T) {
	require.NoError(t, registerMetrics())
	b := newBook("TestKind")
	k1, k2 := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	gauge := func(phase string) int { return b.counts[phase] }
	b.record(k1, "u1", report{phase: "Queued"})
	b.record(k2, "u2", report{phase: "Queued"})
	require.Equal(t, 2, gauge("Queued"))
	undo := b.record(k1, "u1", report{phase: "Running"})
	require.Equal(t, 1, gauge("Queued"))
	require.Equal(t, 1, gauge("Running"))
	undo() // the patch failed
	require.Equal(t, 2, gauge("Queued"))
	require.Equal(t, 0, gauge("Running"))
	require.Equal(t, "Queued", b.previous(k1, "u1", "ignored"))
	require.Equal(t, "Success", b.previous(k1, "u-recreated", "Success"), "a re-created object is a new one")
	b.forget(k1)
	b.forget(k2)
	require.Equal(t, 0, gauge("Queued"))
	require.True(t, b.matches(k1, "u1", report{}) == false)
}

func TestFilter(t *testing.T) {
	r := &kindReconciler{book: newBook("RayJob")}
	obj := func(ann map[string]string, st rayv1.JobDeploymentStatus) *rayv1.RayJob {
		return &rayv1.RayJob{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", UID: "u", Annotations: ann},
			Status: rayv1.RayJobStatus{JobDeploymentStatus: st}}
	}
	tmpl := map[string]string{task.TemplateAnnotation: "t"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{task.TemplateAnnotation: "t"}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	reported := report{phase: "Running", reason: "", links: "[]"}
	r.book.record(types.NamespacedName{Namespace: "ns", Name: "r"}, "u", reported)
	ours := with(map[string]string{PhaseAnnotation: "Running", PhaseReasonAnnotation: "", LogLinksAnnotation: "[]"})
	f := r.filter()
	for _, tt := range []struct {
		name     string
		old, new *rayv1.RayJob
		want     bool
	}{
		{"status change", obj(ours, "Initializing"), obj(ours, "Running"), true},
		{"our own patch", obj(tmpl, "Running"), obj(ours, "Running"), false},
		{"label or spec change", obj(ours, "Running"), obj(ours, "Running"), false},
		{"template change", obj(ours, "Running"), obj(with(map[string]string{PhaseAnnotation: "Running", task.TemplateAnnotation: "t2"}), "Running"), true},
		{"report removed by someone", obj(ours, "Running"), obj(tmpl, "Running"), true},
		{"unannotated", obj(nil, "Initializing"), obj(nil, "Running"), false},
		{"template removed", obj(tmpl, "Running"), obj(nil, "Running"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, f.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}))
		})
	}
	require.False(t, f.Create(event.CreateEvent{Object: obj(nil, "")}))
	require.True(t, f.Create(event.CreateEvent{Object: obj(tmpl, "")}))
	r.opts.All = true
	require.True(t, f.Create(event.CreateEvent{Object: obj(nil, "")}))
	require.True(t, f.Update(event.UpdateEvent{ObjectOld: obj(nil, "Initializing"), ObjectNew: obj(nil, "Running")}))
}
