package apiserver_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/test/bench/apiserver"
	"github.com/stretchr/testify/require"
)

// report makes a one-rate report from each configuration's p50 and p99 in
// milliseconds (no webhook, no-op, flyte-admission).
func report(rate float64, p50, p99 [3]float64) *apiserver.Report {
	r := &apiserver.Report{Rates: []float64{rate}, Seconds: 10, Jobs: 9, CPUs: 2}
	for c := range 3 {
		var run apiserver.Run
		run.P50 = time.Duration(p50[c] * float64(time.Millisecond))
		run.P99 = time.Duration(p99[c] * float64(time.Millisecond))
		run.Mean = run.P50
		r.Configs = append(r.Configs, apiserver.Config{Name: []string{"no webhook", "no-op webhook", "flyte-admission"}[c], Runs: []apiserver.Run{run}})
	}
	return r
}

// TestPrintTargets checks the differences, the ratio of what each webhook
// adds, and the targets' verdicts.
func TestPrintTargets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rate     float64
		p50, p99 [3]float64
		want     []string
		dontWant []string
	}{
		{name: "within both targets", rate: 50, p50: [3]float64{10, 12, 12.2}, p99: [3]float64{20, 24, 24.4},
			want: []string{"+2.00", "+2.20", "1.10x", "p50 1.10x PASS, p99 1.10x PASS", "+4.40 ms PASS"}},
		{name: "over the ratio and over 5 ms", rate: 50, p50: [3]float64{10, 12, 13}, p99: [3]float64{20, 24, 26},
			want: []string{"1.50x", "p50 1.50x FAIL, p99 1.50x FAIL", "+6.00 ms FAIL"}},
		{name: "the no-op adds nothing measurable", rate: 50, p50: [3]float64{10, 9, 11}, p99: [3]float64{20, 20, 21},
			want: []string{"n/a", "no-op adds nothing measurable"}},
		{name: "ours adds nothing", rate: 50, p50: [3]float64{10, 12, 9}, p99: [3]float64{20, 24, 19},
			want: []string{"p50 adds -1.00 ms, PASS", "-1.00 ms PASS"}},
		{name: "targets only at 50/s", rate: 20, p50: [3]float64{10, 12, 13}, p99: [3]float64{20, 24, 26},
			want: []string{"1.50x"}, dontWant: []string{"target:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			apiserver.Print(&out, report(tc.rate, tc.p50, tc.p99))
			for _, s := range append(tc.want, "Kyverno's published scale test: 42.7 ms") {
				require.Contains(t, out.String(), s)
			}
			for _, s := range tc.dontWant {
				require.NotContains(t, out.String(), s)
			}
		})
	}
}

// TestPrintIncomplete: a report without a run per rate is not printed as a
// table.
func TestPrintIncomplete(t *testing.T) {
	r := report(50, [3]float64{1, 2, 3}, [3]float64{1, 2, 3})
	r.Rates = append(r.Rates, 100)
	var out bytes.Buffer
	apiserver.Print(&out, r)
	require.Contains(t, out.String(), "not understood")
	require.NotContains(t, out.String(), "target:")
}
