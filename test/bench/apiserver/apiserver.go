// Package apiserver is the benchmark of what a user feels: the latency a
// webhook adds to a create through a real kube-apiserver + etcd. Its gated
// test (make bench-apiserver) creates the example jobs at steady open-loop
// rates three ways in one run — no webhook, the no-op controller-runtime
// webhook, flyte-admission — and writes a Report; Print renders it, for the
// test and for test/bench/report.
package apiserver

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flyte-admission/flyte-admission/test/load"
)

// The configurations, in Report.Configs order.
const (
	// NoWebhook creates the expanded objects (as Flyte's propeller does)
	// with no webhook registered.
	NoWebhook = iota
	// Noop creates the same objects through the no-op webhook, registered
	// as flyte-admission is.
	Noop
	// Ours creates the skeletons through `flyte-admission serve`, which
	// expands them.
	Ours
)

// Targets of issue #15, printed as pass/fail lines (never asserted: timings
// are not pass/fail on a shared machine).
const (
	// TargetRate is the rate the targets are judged at.
	TargetRate = 50
	// MaxAddedRatio bounds what flyte-admission adds over what the no-op
	// webhook adds.
	MaxAddedRatio = 1.2
	// MaxAddedP99 bounds flyte-admission's p99 over no webhook.
	MaxAddedP99 = 5 * time.Millisecond
)

// KyvernoMean is Kyverno's published end-to-end figure through the
// apiserver (its scale test: average at 100 virtual users, on other
// hardware, closed loop), printed beside ours for scale only.
const KyvernoMean = 42.7 // ms

// Run is one configuration at one rate.
type Run struct {
	load.Stats
	// Warmup creates preceded the measured ones, unmeasured.
	Warmup int `json:"warmup_creates"`
	// WebhookCalls is the number of calls the apiserver made to the
	// configuration's webhooks during warm-up and run, by the apiserver's
	// own apiserver_admission_webhook_request_total.
	WebhookCalls int `json:"webhook_calls"`
	// WebhookCPUSeconds is the webhook server's CPU time during the
	// measured creates.
	WebhookCPUSeconds float64 `json:"webhook_cpu_seconds"`
	// ControlPlaneCPUSeconds is kube-apiserver's and etcd's CPU time
	// during the measured creates.
	ControlPlaneCPUSeconds float64 `json:"control_plane_cpu_seconds"`
}

// Config is one configuration's runs, one per rate of Report.Rates.
type Config struct {
	Name string `json:"name"`
	// Creates says what is created: skeletons or expanded objects.
	Creates string `json:"creates"`
	Runs    []Run  `json:"runs"`
}

// Report is out/bench/apiserver.json.
type Report struct {
	Date    string  `json:"date"`
	CPUs    int     `json:"cpus"`
	Seconds float64 `json:"seconds_per_rate"`
	// Rounds: each configuration ran Seconds/Rounds per round, the
	// configurations alternating; a Run merges its rounds.
	Rounds int       `json:"rounds"`
	Rates  []float64 `json:"rates"`
	// Jobs is the number of distinct example jobs created round robin.
	Jobs int `json:"distinct_jobs"`
	// Order is the order the configurations ran in at each rate, rounds
	// one after the other.
	Order   [][]string `json:"order"`
	Configs []Config   `json:"configs"`
	// ElapsedSeconds is the whole benchmark's wall time, control plane
	// start and builds included.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// Added is what config c adds over no webhook at rate index i: p50, p99
// and mean differences.
func (r *Report) Added(c, i int) (p50, p99, mean time.Duration) {
	a, b := r.Configs[c].Runs[i], r.Configs[NoWebhook].Runs[i]
	return a.P50 - b.P50, a.P99 - b.P99, a.Mean - b.Mean
}

// Print writes the report's table, the ratios of what each webhook adds,
// the targets as pass/fail lines and Kyverno's figure.
func Print(w io.Writer, r *Report) {
	if !r.complete() {
		fmt.Fprintln(w, "Create latency through kube-apiserver: report not understood (want 3 configurations with a run per rate)")
		return
	}
	fmt.Fprintf(w, "Create latency through kube-apiserver + etcd (client-go, open loop, %d example jobs round robin, %.0f s per configuration and rate in %d rounds, configurations alternating)\n", r.Jobs, r.Seconds, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "creates/s\tconfiguration\tachieved\tcreates\terrors\tmean ms\tp50 ms\tp99 ms\tmax ms\tadds p50 ms\tadds p99 ms\twebhook CPU ms/create\tapiserver+etcd CPU ms/create\t")
	for i, rate := range r.Rates {
		for c, cfg := range r.Configs {
			x := cfg.Runs[i]
			add50, add99, cpu := "", "", ""
			if c != NoWebhook {
				p50, p99, _ := r.Added(c, i)
				add50, add99, cpu = fmt.Sprintf("%+.2f", ms(p50)), fmt.Sprintf("%+.2f", ms(p99)), perCreate(x.WebhookCPUSeconds, x.Sent)
			}
			fmt.Fprintf(tw, "%.0f\t%s\t%.1f\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t\n", rate, cfg.Name, x.Achieved, x.Sent, x.Errors,
				ms(x.Mean), ms(x.P50), ms(x.P99), ms(x.Max), add50, add99, cpu, perCreate(x.ControlPlaneCPUSeconds, x.Sent))
		}
		o50, o99, _ := r.Added(Ours, i)
		n50, n99, _ := r.Added(Noop, i)
		fmt.Fprintf(tw, "%.0f\tflyte-admission adds / no-op adds\t\t\t\t\t\t\t\t%s\t%s\t\t\t\n", rate, ratio(o50, n50), ratio(o99, n99))
	}
	tw.Flush()
	fmt.Fprintf(w, "adds: the configuration's figure minus no webhook's at the same rate. No webhook and no-op create the expanded objects (as Flyte's propeller does); flyte-admission creates the skeletons and expands them.\n")
	for i, rate := range r.Rates {
		if rate != TargetRate {
			continue
		}
		o50, o99, _ := r.Added(Ours, i)
		n50, n99, _ := r.Added(Noop, i)
		fmt.Fprintf(w, "target: flyte-admission adds <= %.1fx what the no-op adds at %.0f/s: p50 %s, p99 %s\n", MaxAddedRatio, rate,
			verdict(o50, n50), verdict(o99, n99))
		pass := "PASS"
		if o99 > MaxAddedP99 {
			pass = "FAIL"
		}
		fmt.Fprintf(w, "target: flyte-admission p99 <= %s over no webhook at %.0f/s: %+.2f ms %s\n", MaxAddedP99, rate, ms(o99), pass)
	}
	var means []string
	for i, rate := range r.Rates {
		means = append(means, fmt.Sprintf("%.1f ms at %.0f/s", ms(r.Configs[Ours].Runs[i].Mean), rate))
	}
	fmt.Fprintf(w, "Kyverno's published scale test: %.1f ms average end-to-end through the apiserver at 100 virtual users (closed loop, other hardware); flyte-admission here, mean create end-to-end: %s (open loop, %d CPUs shared with the control plane and the client)\n",
		KyvernoMean, strings.Join(means, ", "), r.CPUs)
}

// complete is true when every configuration has a run per rate.
func (r *Report) complete() bool {
	if len(r.Configs) != 3 || len(r.Rates) == 0 {
		return false
	}
	for _, c := range r.Configs {
		if len(c.Runs) != len(r.Rates) {
			return false
		}
	}
	return true
}

// ratio is ours-added over noop-added: "n/a" when the no-op adds nothing
// measurable (the ratio of noise), 0x when ours adds nothing.
func ratio(ours, noop time.Duration) string {
	switch {
	case noop <= 0:
		return "n/a"
	case ours <= 0:
		return "0x"
	}
	return fmt.Sprintf("%.2fx", float64(ours)/float64(noop))
}

func verdict(ours, noop time.Duration) string {
	switch {
	case ours <= 0:
		return fmt.Sprintf("adds %+.2f ms, PASS", ms(ours))
	case noop <= 0:
		return fmt.Sprintf("adds %+.2f ms vs no-op %+.2f ms, n/a (no-op adds nothing measurable)", ms(ours), ms(noop))
	}
	v := float64(ours) / float64(noop)
	pass := "PASS"
	if v > MaxAddedRatio {
		pass = "FAIL"
	}
	return fmt.Sprintf("%.2fx %s", v, pass)
}

// perCreate is CPU seconds per create in milliseconds.
func perCreate(seconds float64, creates int) string {
	if creates == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", seconds*1000/float64(creates))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
