// Package load is an open-loop load generator for admission webhooks: it
// sends AdmissionReview requests at a fixed rate whatever the server's speed
// (so slow responses cannot slow the sender down and hide themselves), over
// keep-alive HTTPS, and measures each request from the moment it was due.
// Open paces any other call (e.g. a create through the apiserver) the same way.
package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request is one prepared admission request: the path (/mutate or
// /validate), the AdmissionReview body and the uid the response must echo.
type Request struct {
	Name string
	Path string
	UID  string
	Body []byte
}

// Client returns an HTTP/1.1 keep-alive client trusting caPEM, with enough
// idle connections for the rates the benchmark uses.
func Client(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in the CA bundle")
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     time.Minute,
			ForceAttemptHTTP2:   false,
		},
	}, nil
}

// Stats is the outcome of one run.
type Stats struct {
	Target   float64       `json:"target_rps"`
	Achieved float64       `json:"achieved_rps"`
	Sent     int           `json:"sent"`
	Errors   int           `json:"errors"`
	Denied   int           `json:"denied"`
	Mean     time.Duration `json:"mean_ns"`
	P50      time.Duration `json:"p50_ns"`
	P90      time.Duration `json:"p90_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// FirstError describes one failed request (empty without errors).
	FirstError string `json:"first_error,omitempty"`
	// Latencies are the run's latencies, sorted, for Merge.
	Latencies []time.Duration `json:"-"`
}

// Merge combines runs at one rate (rounds) into one: counts summed, the
// achieved rate over their time together, percentiles and mean over all
// their latencies, the first error of the first run that has one.
func Merge(runs ...Stats) Stats {
	var m Stats
	var seconds float64
	var sum time.Duration
	for _, r := range runs {
		m.Target = r.Target
		m.Sent += r.Sent
		m.Errors += r.Errors
		m.Denied += r.Denied
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
		if r.Achieved > 0 {
			seconds += float64(r.Sent) / r.Achieved
		}
		m.Latencies = append(m.Latencies, r.Latencies...)
		sum += r.Mean * time.Duration(r.Sent)
	}
	if m.Sent == 0 {
		return m
	}
	if seconds > 0 {
		m.Achieved = float64(m.Sent) / seconds
	}
	m.Mean = sum / time.Duration(m.Sent)
	slices.Sort(m.Latencies)
	lat := m.Latencies
	m.P50, m.P90, m.P99, m.Max = Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99), lat[len(lat)-1]
	return m
}

// Run sends requests (round robin) to baseURL at rate per second for d and
// waits for every answer. A request counts as an error unless it gets HTTP
// 200 with an AdmissionReview response echoing its uid; a response that
// refuses the request counts as denied.
func Run(ctx context.Context, c *http.Client, baseURL string, reqs []Request, rate float64, d time.Duration) Stats {
	return Open(ctx, rate, d, func(ctx context.Context, i int) (bool, string) {
		return send(ctx, c, baseURL, reqs[i%len(reqs)])
	})
}

// Open is the open loop of Run for any call: it starts call i (from 0 to
// rate×d−1) in its own goroutine when it is due, at i/rate after the start,
// however long earlier calls take, waits for every call, and measures each
// from when it was due. A call returns whether it was denied, or a
// description of what went wrong (empty on success).
func Open(ctx context.Context, rate float64, d time.Duration, call func(ctx context.Context, i int) (denied bool, problem string)) Stats {
	n := int(math.Round(rate * d.Seconds()))
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	errs := make([]string, n)
	denied := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	var end time.Time
	var endMu sync.Mutex
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
				n = i
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			n = i
			break
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			denied[i], errs[i] = call(ctx, i)
			done := time.Now()
			lat[i] = done.Sub(due)
			endMu.Lock()
			if done.After(end) {
				end = done
			}
			endMu.Unlock()
		}(i, due)
	}
	wg.Wait()
	s := Stats{Target: rate, Sent: n}
	if n == 0 {
		return s
	}
	lat, errs, denied = lat[:n], errs[:n], denied[:n]
	for i := range errs {
		switch {
		case errs[i] != "":
			s.Errors++
			if s.FirstError == "" {
				s.FirstError = errs[i]
			}
		case denied[i]:
			s.Denied++
		}
	}
	s.Achieved = float64(n) / end.Sub(start).Seconds()
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	s.Mean = sum / time.Duration(n)
	slices.Sort(lat)
	s.P50, s.P90, s.P99, s.Max = Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99), lat[n-1]
	s.Latencies = lat
	return s
}

// Percentile is the nearest-rank p-th percentile of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

type review struct {
	Response *struct {
		UID     string `json:"uid"`
		Allowed bool   `json:"allowed"`
	} `json:"response"`
}

// send posts one request and returns whether it was denied, or what went
// wrong.
func send(ctx context.Context, c *http.Client, baseURL string, r Request) (denied bool, problem string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Sprintf("%s: read response: %v", r.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("%s: HTTP %d: %.200s", r.Name, resp.StatusCode, body)
	}
	var rv review
	if err := json.Unmarshal(body, &rv); err != nil || rv.Response == nil {
		return false, fmt.Sprintf("%s: not an AdmissionReview response: %.200s", r.Name, body)
	}
	if rv.Response.UID != r.UID {
		return false, fmt.Sprintf("%s: response uid %q, want %q", r.Name, rv.Response.UID, r.UID)
	}
	return !rv.Response.Allowed, ""
}
