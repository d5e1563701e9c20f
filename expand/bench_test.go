package expand_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
)

const conformance = "../cmd/flyte-admission/testdata/conformance"

// benchCases are the inputs of the mutate-path benchmarks: three shared
// conformance cases (so the comparison with Flyte's own BuildResource is like
// for like) and larger templates.
var benchCases = []struct{ name, skeleton, config string }{
	{"spark/basic", conformance + "/spark/basic/skeleton.yaml", ""},
	{"spark/k8s_pod", conformance + "/spark/k8s_pod/skeleton.yaml", ""},
	{"spark/features_interruptible", conformance + "/spark/features_interruptible/skeleton.yaml", conformance + "/spark/features_interruptible/config.yaml"},
	{"ray/logs_sidecar_config", conformance + "/ray/logs_sidecar_config/skeleton.yaml", conformance + "/ray/logs_sidecar_config/config.yaml"},
	{"ray/multi_groups_yaml", conformance + "/ray/multi_groups_yaml/skeleton.yaml", ""},
	{"dask/basic", conformance + "/dask/basic/skeleton.yaml", ""},
	{"dask/custom_resources_interruptible", conformance + "/dask/custom_resources_interruptible/skeleton.yaml", conformance + "/dask/custom_resources_interruptible/config.yaml"},
}

// BenchmarkMutate measures the whole mutate path of the webhook: decode the
// object's JSON, expand, merge with the skeleton, diff and encode the patch.
// The template cache is warm, as for repeated runs of one task version.
func BenchmarkMutate(b *testing.B) { benchMutate(b) }

// BenchmarkMutateCold is BenchmarkMutate with the template cache off: every
// request decodes its template, as Flyte's BuildResource does.
func BenchmarkMutateCold(b *testing.B) {
	task.SetCacheSize(0)
	defer task.SetCacheSize(512)
	benchMutate(b)
}

func benchMutate(b *testing.B) {
	for _, c := range benchCases {
		x := newExpander(b, c.config)
		objs := readObjects(b, c.skeleton)
		raw, err := json.Marshal(objs[0].Map)
		require.NoError(b, err)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				res, err := x.ExpandRaw(ctx, raw, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := expand.MarshalPatch(res.Patch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNoop measures an already-expanded object (re-invocation, GitOps
// re-apply): decode and the provenance check only.
func BenchmarkNoop(b *testing.B) {
	x := newExpander(b, "")
	objs := readObjects(b, filepath.Join(conformance, "spark/basic/skeleton.yaml"))
	res, err := x.Expand(context.Background(), objs[0].Map, nil)
	require.NoError(b, err)
	raw, err := json.Marshal(res.Object)
	require.NoError(b, err)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if r, err := x.ExpandRaw(context.Background(), raw, nil); err != nil || len(r.Patch) != 0 {
			b.Fatal("expected no-op", err)
		}
	}
}

// reportCPU adds the process CPU time per operation (user + system, GC
// included) to the benchmark's output: on a shared machine wall time per
// operation swings with the neighbours' load, CPU time much less.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	b.ResetTimer()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
