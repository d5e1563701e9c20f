// Command report prints the one table of `make bench` and writes its data
// as JSON: the expansion benchmarks of flyte-admission and of the Flyte
// 1.16.8 baseline (go test -bench output), the admission load benchmark
// (load.json), create latency through the apiserver (apiserver.json) and
// the watcher benchmark (watch.json), all from one directory (default
// out/bench). A section whose file is missing is reported as not run.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flyte-admission/flyte-admission/test/bench/apiserver"
)

func main() {
	dir := flag.String("dir", "out/bench", "directory of the benchmark outputs; bench.json is written there")
	flag.Parse()
	if err := run(*dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// Bench is one Go benchmark result.
type Bench struct {
	NsPerOp     float64 `json:"ns_per_op"`
	CPUNsPerOp  float64 `json:"cpu_ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	// N is the iterations over all Runs (rounds) together.
	N    int `json:"iterations"`
	Runs int `json:"runs"`
}

// Expansion compares one input.
type Expansion struct {
	Input  string `json:"input"`
	Flyte  *Bench `json:"flyte,omitempty"`
	Cold   *Bench `json:"mutate_cold,omitempty"`
	Warm   *Bench `json:"mutate_warm,omitempty"`
	Decode *Bench `json:"decode,omitempty"`
	Expand *Bench `json:"expand,omitempty"`
	// Speedup is Flyte's CPU time per operation over ours (CPUSpeedup) or
	// its wall time over ours (WallSpeedup); AllocFraction is our
	// allocations over Flyte's. Cold: the template decoded every time, as
	// Flyte does; warm: a template cache hit.
	SpeedupCold       float64 `json:"cpu_speedup_cold,omitempty"`
	SpeedupWarm       float64 `json:"cpu_speedup_warm,omitempty"`
	WallSpeedupCold   float64 `json:"wall_speedup_cold,omitempty"`
	WallSpeedupWarm   float64 `json:"wall_speedup_warm,omitempty"`
	AllocFractionCold float64 `json:"alloc_fraction_cold,omitempty"`
	AllocFractionWarm float64 `json:"alloc_fraction_warm,omitempty"`
}

// Report is bench.json.
type Report struct {
	Date      string          `json:"date"`
	Machine   string          `json:"machine"`
	Expansion []Expansion     `json:"expansion"`
	Load      json.RawMessage `json:"admission_load,omitempty"`
	APIServer json.RawMessage `json:"apiserver,omitempty"`
	Watch     json.RawMessage `json:"watcher,omitempty"`
}

func run(dir string, w io.Writer) error {
	ours, err := readBench(filepath.Join(dir, "expand.txt"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	flyte, err := readBench(filepath.Join(dir, "flyte.txt"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	rep := Report{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine()}
	var inputs []string
	for name := range ours {
		if in, ok := strings.CutPrefix(name, "Mutate/"); ok {
			inputs = append(inputs, in)
		}
	}
	if len(inputs) == 0 && ours != nil {
		return fmt.Errorf("%s has no BenchmarkMutate results", filepath.Join(dir, "expand.txt"))
	}
	order := caseOrder(inputs)
	for _, in := range order {
		e := Expansion{Input: in, Flyte: flyte["Flyte/"+in], Cold: ours["MutateCold/"+in], Warm: ours["Mutate/"+in],
			Decode: ours["Decode/"+in], Expand: ours["Expand/"+in]}
		if e.Flyte != nil {
			if e.Cold != nil {
				e.SpeedupCold, e.WallSpeedupCold = e.Flyte.CPUNsPerOp/e.Cold.CPUNsPerOp, e.Flyte.NsPerOp/e.Cold.NsPerOp
				e.AllocFractionCold = e.Cold.AllocsPerOp / e.Flyte.AllocsPerOp
			}
			if e.Warm != nil {
				e.SpeedupWarm, e.WallSpeedupWarm = e.Flyte.CPUNsPerOp/e.Warm.CPUNsPerOp, e.Flyte.NsPerOp/e.Warm.NsPerOp
				e.AllocFractionWarm = e.Warm.AllocsPerOp / e.Flyte.AllocsPerOp
			}
		}
		rep.Expansion = append(rep.Expansion, e)
	}
	if rep.Load, err = readRaw(filepath.Join(dir, "load.json")); err != nil {
		return err
	}
	if rep.APIServer, err = readRaw(filepath.Join(dir, "apiserver.json")); err != nil {
		return err
	}
	if rep.Watch, err = readRaw(filepath.Join(dir, "watch.json")); err != nil {
		return err
	}
	print(w, &rep)
	data, err := json.MarshalIndent(&rep, "", "  ")
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "bench.json")
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s\n", out)
	return nil
}

// caseOrder keeps the order of test/bench/cases.json when it can be read.
func caseOrder(inputs []string) []string {
	var f struct{ Cases []struct{ Name string } }
	data, err := os.ReadFile("test/bench/cases.json")
	if err != nil || json.Unmarshal(data, &f) != nil {
		return inputs
	}
	seen := map[string]bool{}
	for _, in := range inputs {
		seen[in] = true
	}
	var out []string
	for _, c := range f.Cases {
		if seen[c.Name] {
			out = append(out, c.Name)
			delete(seen, c.Name)
		}
	}
	for _, in := range inputs {
		if seen[in] {
			out = append(out, in)
		}
	}
	return out
}

func readRaw(path string) (json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("%s: not JSON", path)
	}
	return data, nil
}

// readBench parses `go test -bench` output: name (without "Benchmark" and
// the -GOMAXPROCS suffix) to result. A benchmark run several times (rounds)
// gets the median of each figure; Runs says how many.
func readBench(path string) (map[string]*Bench, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all := map[string][]*Bench{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, b, ok := parseLine(sc.Text()); ok {
			all[name] = append(all[name], b)
		}
	}
	out := map[string]*Bench{}
	for name, bs := range all {
		med := func(get func(*Bench) float64) float64 {
			v := make([]float64, len(bs))
			for i, b := range bs {
				v[i] = get(b)
			}
			slices.Sort(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		n := 0
		for _, b := range bs {
			n += b.N
		}
		out[name] = &Bench{
			NsPerOp: med(func(b *Bench) float64 { return b.NsPerOp }), CPUNsPerOp: med(func(b *Bench) float64 { return b.CPUNsPerOp }),
			BytesPerOp: med(func(b *Bench) float64 { return b.BytesPerOp }), AllocsPerOp: med(func(b *Bench) float64 { return b.AllocsPerOp }),
			N: n, Runs: len(bs),
		}
	}
	return out, sc.Err()
}

func parseLine(line string) (string, *Bench, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
		return "", nil, false
	}
	name := strings.TrimPrefix(fields[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	n, err := strconv.Atoi(fields[1])
	if err != nil {
		return "", nil, false
	}
	b := &Bench{N: n}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return "", nil, false
		}
		switch fields[i+1] {
		case "ns/op":
			b.NsPerOp = v
		case "cpu-ns/op":
			b.CPUNsPerOp = v
		case "B/op":
			b.BytesPerOp = v
		case "allocs/op":
			b.AllocsPerOp = v
		}
	}
	return name, b, b.NsPerOp > 0
}

func machine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH)
}

// us is the CPU time per operation in µs (wall time swings more with
// neighbours on a shared machine; both are in bench.json).
func us(b *Bench) string {
	if b == nil {
		return "-"
	}
	return strconv.FormatFloat(b.CPUNsPerOp/1000, 'f', 1, 64)
}

func allocs(b *Bench) string {
	if b == nil {
		return "-"
	}
	return strconv.FormatFloat(b.AllocsPerOp, 'f', 0, 64)
}

func x(f float64) string {
	if f == 0 {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', 2, 64) + "x"
}

func print(w io.Writer, r *Report) {
	fmt.Fprintf(w, "flyte-admission benchmarks, %s, %s\n\n", r.Date, r.Machine)
	if len(r.Expansion) == 0 {
		fmt.Fprintln(w, "Expansion: not run (out/bench/expand.txt missing)")
	} else {
		printExpansion(w, r)
	}
	printLoad(w, r.Load)
	printAPIServer(w, r.APIServer)
	printWatch(w, r.Watch)
}

func printExpansion(w io.Writer, r *Report) {
	rounds := 0
	for _, e := range r.Expansion {
		if e.Warm != nil {
			rounds = e.Warm.Runs
		}
	}
	fmt.Fprintf(w, "Expansion: decode + expand + merge + JSON patch (ours) vs decode + BuildResource + json.Marshal (Flyte 1.16.8); same inputs, alternating, median of %d rounds\n", rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "input\tFlyte µs\tallocs\tcold µs\tallocs\tspeedup\tallocs\twarm µs\tallocs\tspeedup\tallocs\tdecode µs\texpand µs\t")
	for _, e := range r.Expansion {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", e.Input, us(e.Flyte), allocs(e.Flyte),
			us(e.Cold), allocs(e.Cold), x(e.SpeedupCold), x(e.AllocFractionCold),
			us(e.Warm), allocs(e.Warm), x(e.SpeedupWarm), x(e.AllocFractionWarm), us(e.Decode), us(e.Expand))
	}
	tw.Flush()
	fmt.Fprintln(w, "µs: CPU time per operation. cold: template decoded on every request (as Flyte does); warm: template cache hit (same task version). speedup: Flyte's CPU time / ours (wall-time ratios in bench.json); allocs: ours / Flyte's.")
}

func printAPIServer(w io.Writer, raw json.RawMessage) {
	if raw == nil {
		fmt.Fprintln(w, "\nCreate latency through kube-apiserver: not run (out/bench/apiserver.json missing)")
		return
	}
	var r apiserver.Report
	if json.Unmarshal(raw, &r) != nil {
		fmt.Fprintln(w, "\nCreate latency through kube-apiserver: apiserver.json not understood")
		return
	}
	fmt.Fprintln(w)
	apiserver.Print(w, &r)
}

func printLoad(w io.Writer, raw json.RawMessage) {
	if raw == nil {
		fmt.Fprintln(w, "\nAdmission under load: not run (out/bench/load.json missing)")
		return
	}
	var l struct {
		Requests int     `json:"distinct_requests"`
		Seconds  float64 `json:"seconds_per_rate"`
		Servers  []struct {
			Name string `json:"name"`
			Runs []struct {
				Target   float64 `json:"target_rps"`
				Achieved float64 `json:"achieved_rps"`
				Sent     int     `json:"sent"`
				Errors   int     `json:"errors"`
				P50      float64 `json:"p50_ns"`
				P99      float64 `json:"p99_ns"`
				Max      float64 `json:"max_ns"`
				CPU      float64 `json:"server_cpu_seconds"`
				Peak     float64 `json:"peak_rss_mib"`
				RSS      float64 `json:"rss_mib"`
			} `json:"runs"`
			MaxRate float64 `json:"max_rate_p99_10ms"`
		} `json:"servers"`
	}
	if json.Unmarshal(raw, &l) != nil || len(l.Servers) != 2 {
		fmt.Fprintln(w, "\nAdmission under load: load.json not understood")
		return
	}
	fmt.Fprintf(w, "\nAdmission under load: open loop, keep-alive HTTPS, %d distinct reviews (3 kinds, CREATE/UPDATE, mutate/validate), %.0f s per rate\n", l.Requests, l.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\treq/s\tachieved\trequests\terrors\tp50 ms\tp99 ms\tmax ms\tCPU s\tpeak RSS MiB\tp99 vs no-op\tCPU vs no-op\t")
	ours, noop := l.Servers[0], l.Servers[1]
	for i := range ours.Runs {
		for j, s := range l.Servers {
			if i >= len(s.Runs) {
				continue
			}
			r := s.Runs[i]
			rel, relCPU := "", ""
			if j == 0 && i < len(noop.Runs) && noop.Runs[i].P99 > 0 && noop.Runs[i].CPU > 0 {
				rel, relCPU = x(r.P99/noop.Runs[i].P99), x(r.CPU/noop.Runs[i].CPU)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t\n", s.Name, r.Target, r.Achieved, r.Sent, r.Errors,
				r.P50/1e6, r.P99/1e6, r.Max/1e6, r.CPU, r.Peak, rel, relCPU)
		}
	}
	tw.Flush()
	ratio := "-"
	if noop.MaxRate > 0 {
		ratio = x(ours.MaxRate / noop.MaxRate)
	}
	fmt.Fprintf(w, "highest rate with p99 <= 10 ms: %s %.0f/s, %s %.0f/s (ratio %s)\n", ours.Name, ours.MaxRate, noop.Name, noop.MaxRate, ratio)
}

func printWatch(w io.Writer, raw json.RawMessage) {
	if raw == nil {
		fmt.Fprintln(w, "\nWatcher: not run (out/bench/watch.json missing)")
		return
	}
	var r struct {
		Results []struct {
			Objects int     `json:"objects"`
			RSS     float64 `json:"rss_after_sync_mib"`
			Peak    float64 `json:"peak_rss_mib"`
			Sync    float64 `json:"sync_seconds"`
			Storms  []struct {
				Rate   float64 `json:"target_rate_per_second"`
				Writes int     `json:"status_writes"`
				Lag    struct {
					P50 float64 `json:"p50"`
					P99 float64 `json:"p99"`
				} `json:"lag_ms"`
				Floor struct {
					P99 float64 `json:"p99"`
				} `json:"baseline_ms"`
			} `json:"storms"`
		} `json:"results"`
	}
	if json.Unmarshal(raw, &r) != nil {
		fmt.Fprintln(w, "\nWatcher: watch.json not understood")
		return
	}
	fmt.Fprintln(w, "\nWatcher: phase-report lag (status write -> annotation seen) on a real kube-apiserver + etcd")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects\tsync s\tRSS MiB\tpeak RSS MiB\twrites/s\twrites\tlag p50 ms\tlag p99 ms\tapiserver floor p99 ms\t")
	for _, res := range r.Results {
		for _, s := range res.Storms {
			fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%.0f\t%.0f\t%.0f\t\n", res.Objects, res.Sync, res.RSS, res.Peak, s.Rate, s.Writes, s.Lag.P50, s.Lag.P99, s.Floor.P99)
		}
	}
	tw.Flush()
}
