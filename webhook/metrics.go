package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metric names (all on controller-runtime's metrics.Registry, served at /metrics).
const (
	MetricRequests           = "flyte_admission_requests_total"
	MetricDenials            = "flyte_admission_denials_total"
	MetricRequestDuration    = "flyte_admission_request_duration_seconds"
	MetricPolicyAudits       = "flyte_admission_policy_audit_total"
	MetricConfigReloadErrors = "flyte_admission_config_reload_errors_total"
	MetricPanics             = "flyte_admission_panics_total"
	MetricTimeouts           = "flyte_admission_request_timeouts_total"
	MetricRejected           = "flyte_admission_requests_rejected_total"
)

// Request results (the result label of flyte_admission_requests_total).
const (
	ResultAllowed = "allowed" // admitted unchanged
	ResultPatched = "patched" // admitted with a JSON patch (mutate)
	ResultWarned  = "warned"  // admitted with warnings (validate)
	ResultDenied  = "denied"  // refused (422 naming the field)
	ResultError   = "error"   // undecodable request or internal error
)

// Webhook names (the webhook label).
const (
	mutateName   = "mutate"
	validateName = "validate"
)

// policyExpansion labels denials by the mutating webhook (the expansion failed).
const policyExpansion = "expansion"

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRequests,
		Help: "Admission requests by webhook (mutate, validate), object kind, operation and result (allowed, patched, warned, denied, error).",
	}, []string{"webhook", "kind", "operation", "result"})

	denialsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricDenials,
		Help: "Denied admission requests by object kind and the policy that denied them (invariants, expansion, or a cluster policy's name).",
	}, []string{"kind", "policy"})

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MetricRequestDuration,
		Help:    "Time to answer an admission request, by webhook, object kind and operation.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"webhook", "kind", "operation"})

	policyAudits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricPolicyAudits,
		Help: "Policy violations admitted in audit mode, by object kind and policy.",
	}, []string{"kind", "policy"})

	configReloadErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricConfigReloadErrors,
		Help: "Failed reloads of a watched file (the previous contents stay in use), by source (config, policies).",
	}, []string{"source"})

	panicsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricPanics,
		Help: "Panics recovered while serving a request (answered with an internal error; the server keeps serving), by where: mutate, validate, or http (outside the admission handlers).",
	}, []string{"where"})

	timeoutsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricTimeouts,
		Help: "Admission requests answered with a Timeout denial because their handling outlived the request's deadline, by webhook.",
	}, []string{"webhook"})
	rejectedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricRejected,
		Help: "Requests answered 429 at once because MaxInFlight requests were being handled (overload).",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(requestsTotal, denialsTotal, requestDuration, policyAudits, configReloadErrors, panicsTotal, timeoutsTotal, rejectedTotal)
}

// observe records one answered request.
func observe(webhook, kind, operation, result string, start time.Time) {
	requestsTotal.WithLabelValues(webhook, kind, operation, result).Inc()
	requestDuration.WithLabelValues(webhook, kind, operation).Observe(time.Since(start).Seconds())
}
