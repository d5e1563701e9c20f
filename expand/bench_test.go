package expand_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
)

const conformance = "../cmd/flyte-admission/testdata/conformance"

// benchDir holds cases.json, the benchmark inputs shared with the Flyte
// 1.16.8 baseline (test/bench/flyte), so the comparison is like for like.
const benchDir = "../test/bench"

type benchCase struct {
	Name     string `json:"name"`
	Skeleton string `json:"skeleton"`
	Config   string `json:"config"`
}

// benchInput is a case ready to run: its expander, the object as an admission
// request carries it, and its decoded form.
type benchInput struct {
	benchCase
	x   *expand.Expander
	raw []byte
	obj map[string]any
}

func benchInputs(b testing.TB) []benchInput {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(benchDir, "cases.json"))
	require.NoError(b, err)
	var f struct{ Cases []benchCase }
	require.NoError(b, json.Unmarshal(data, &f))
	require.NotEmpty(b, f.Cases)
	var out []benchInput
	for _, c := range f.Cases {
		cfg := ""
		if c.Config != "" {
			cfg = filepath.Join(benchDir, c.Config)
		}
		objs := readObjects(b, filepath.Join(benchDir, c.Skeleton))
		raw, err := json.Marshal(objs[0].Map)
		require.NoError(b, err)
		out = append(out, benchInput{benchCase: c, x: newExpander(b, cfg), raw: raw, obj: objs[0].Map})
	}
	return out
}

// BenchmarkMutate measures the whole mutate path of the webhook: decode the
// object's JSON, expand, merge with the skeleton, diff and encode the patch.
// The template cache is warm, as for repeated runs of one task version.
func BenchmarkMutate(b *testing.B) { benchMutate(b) }

// BenchmarkMutateCold is BenchmarkMutate with the template cache off: every
// request decodes its template, as Flyte's BuildResource does. This is the
// figure to compare with the Flyte baseline.
func BenchmarkMutateCold(b *testing.B) {
	task.SetCacheBytes(0)
	defer task.SetCacheBytes(task.DefaultCacheBytes)
	benchMutate(b)
}

func benchMutate(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.Name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				res, err := in.x.ExpandRaw(ctx, in.raw, nil)
				if err != nil {
					b.Fatal(err)
				}
				patch, err := res.PatchJSON()
				if err != nil {
					b.Fatal(err)
				}
				expand.RecyclePatch(patch) // as the webhook does once it has answered
			}
		})
	}
}

// BenchmarkDecode measures decoding the two task annotations (template and
// execution) with the template cache off.
func BenchmarkDecode(b *testing.B) {
	task.SetCacheBytes(0)
	defer task.SetCacheBytes(task.DefaultCacheBytes)
	for _, in := range benchInputs(b) {
		meta := in.obj["metadata"].(map[string]any)
		name, namespace := meta["name"].(string), meta["namespace"].(string)
		ann := meta["annotations"].(map[string]any)
		annotations := map[string]string{}
		for k, v := range ann {
			annotations[k] = v.(string)
		}
		b.Run(in.Name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				if _, err := task.New(name, namespace, annotations); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExpand measures Expand on a decoded object: expansion, merge with
// the skeleton and diff, without JSON decoding (template cache warm). The
// patch buffer is handed back as the webhook does.
func BenchmarkExpand(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.Name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				res, err := in.x.Expand(ctx, in.obj, nil)
				if err != nil {
					b.Fatal(err)
				}
				if patch, err := res.PatchJSON(); err == nil {
					expand.RecyclePatch(patch)
				}
			}
		})
	}
}

// BenchmarkNoop measures an already-expanded object (re-invocation, GitOps
// re-apply, an operator's UPDATE): decoding its head (and the old object's,
// on UPDATE) and the provenance check only.
func BenchmarkNoop(b *testing.B) {
	x := newExpander(b, "")
	objs := readObjects(b, filepath.Join(conformance, "spark/basic/skeleton.yaml"))
	res, err := x.Expand(context.Background(), objs[0].Map, nil)
	require.NoError(b, err)
	raw, err := json.Marshal(expand.Plain(res.Object()))
	require.NoError(b, err)
	for _, tc := range []struct {
		name string
		old  []byte
	}{{"create", nil}, {"update", raw}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				if r, err := x.ExpandRaw(context.Background(), raw, tc.old); err != nil || len(r.Patch) != 0 {
					b.Fatal("expected no-op", err)
				}
			}
		})
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
