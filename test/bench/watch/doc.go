// Package watchbench is the status watcher's benchmark (`make bench-watch`,
// part of `make bench`). For each size (default 1,000 and 5,000 objects) it
// starts a real kube-apiserver + etcd (test/testenv), creates that many
// expanded SparkApplications, RayJobs and DaskJobs (examples/, expanded as
// the webhook would), runs the real `flyte-admission serve --webhook=false`
// binary (built once with go build) as its own process, waits until it has
// reported every object's initial phase, then runs storms of status writes —
// the operators' next status (→ Running, or → Success) of evenly spread
// objects at a fixed rate, open-loop, one storm per rate (default 20/s and
// 30/s, 25 s each) — and measures
//
//   - phase-report lag: from the start of each status write to the moment a
//     metadata-only watch in the benchmark sees the new flyte.org/phase;
//   - the baseline of the same run: from the start of each status write to
//     the moment the same watch delivers the write itself (the
//     resourceVersion it returned) — the apiserver's write and watch
//     delivery, which no watcher can beat;
//   - the watcher's VmRSS and VmHWM (/proc/<pid>/status) after the initial
//     sync and after each storm, with the Go runtime's view from its
//     /metrics, and the CPU time of the watcher and of the control plane.
//
// The benchmark is TestWatchBench, gated by FLYTE_ADMISSION_BENCH_WATCH=1 so
// that `go test ./...` (make test) skips it. It prints a table and writes
// out/bench/watch.json and, per storm, a CSV of every write
// (out/bench/watch-<objects>-at-<rate>-writes.csv). The BENCH_WATCH_*
// variables (see the test) change the sizes, rates, storm length and the
// watcher's flags and environment, and can save its heap and CPU profiles.
package watchbench
