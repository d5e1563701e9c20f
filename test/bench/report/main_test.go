package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/test/bench/apiserver"
	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	name, b, ok := parseLine("BenchmarkMutateCold/spark/basic-2   \t 2000\t  345896 ns/op\t  328044 cpu-ns/op\t 72740 B/op\t 774 allocs/op")
	require.True(t, ok)
	require.Equal(t, "MutateCold/spark/basic", name)
	require.Equal(t, &Bench{NsPerOp: 345896, CPUNsPerOp: 328044, BytesPerOp: 72740, AllocsPerOp: 774, N: 2000}, b)

	for _, line := range []string{"PASS", "goos: linux", "BenchmarkX-2 notanumber 1 ns/op", "--- FAIL: BenchmarkDecode/x", "BenchmarkY 10 12 B/op"} {
		_, _, ok := parseLine(line)
		require.False(t, ok, line)
	}
}

// TestRun builds the report from two rounds of both sides: medians, ratios
// and bench.json.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	write("expand.txt", `BenchmarkMutate/spark/basic-2 100 100000 ns/op 90000 cpu-ns/op 1 B/op 400 allocs/op
BenchmarkMutateCold/spark/basic-2 100 200000 ns/op 180000 cpu-ns/op 1 B/op 800 allocs/op
BenchmarkMutate/spark/basic-2 100 140000 ns/op 110000 cpu-ns/op 1 B/op 400 allocs/op
BenchmarkMutateCold/spark/basic-2 100 220000 ns/op 200000 cpu-ns/op 1 B/op 800 allocs/op
`)
	write("flyte.txt", `BenchmarkFlyte/spark/basic-2 100 300000 ns/op 400000 cpu-ns/op 1 B/op 1600 allocs/op
BenchmarkFlyte/spark/basic-2 100 300000 ns/op 400000 cpu-ns/op 1 B/op 1600 allocs/op
`)
	var out bytes.Buffer
	require.NoError(t, run(dir, &out))
	require.Contains(t, out.String(), "median of 2 rounds")
	require.Contains(t, out.String(), "Admission under load: not run")

	var rep Report
	data, err := os.ReadFile(filepath.Join(dir, "bench.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	require.Len(t, rep.Expansion, 1)
	e := rep.Expansion[0]
	require.Equal(t, "spark/basic", e.Input)
	require.Equal(t, 100000.0, e.Warm.CPUNsPerOp, "median of 90,000 and 110,000")
	require.Equal(t, 200, e.Warm.N)
	require.Equal(t, 2, e.Warm.Runs)
	require.InDelta(t, 4.0, e.SpeedupWarm, 1e-9)
	require.InDelta(t, 400000.0/190000, e.SpeedupCold, 1e-9)
	require.InDelta(t, 0.25, e.AllocFractionWarm, 1e-9)
	require.InDelta(t, 0.5, e.AllocFractionCold, 1e-9)

	write("expand.txt", "PASS\n")
	require.ErrorContains(t, run(dir, &out), "no BenchmarkMutate results")
}

// TestRunSectionsMissing: each section whose file is missing is reported as
// not run; apiserver.json alone gives its table.
func TestRunSectionsMissing(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(dir, &out))
	for _, s := range []string{"Expansion: not run", "Admission under load: not run", "Create latency through kube-apiserver: not run", "Watcher: not run"} {
		require.Contains(t, out.String(), s)
	}

	r := apiserver.Report{Rates: []float64{50}, Seconds: 10, Jobs: 9}
	for _, p := range []time.Duration{10, 11, 12} {
		run := apiserver.Run{}
		run.P50, run.P99, run.Mean = p*time.Millisecond, 2*p*time.Millisecond, p*time.Millisecond
		r.Configs = append(r.Configs, apiserver.Config{Name: "c" + p.String(), Runs: []apiserver.Run{run}})
	}
	data, err := json.Marshal(&r)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "apiserver.json"), data, 0o644))
	out.Reset()
	require.NoError(t, run(dir, &out))
	require.Contains(t, out.String(), "Create latency through kube-apiserver + etcd")
	require.NotContains(t, out.String(), "Create latency through kube-apiserver: not run")
	var rep Report
	data, err = os.ReadFile(filepath.Join(dir, "bench.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	require.NotEmpty(t, rep.APIServer)
}
