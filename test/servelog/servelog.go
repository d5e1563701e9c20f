// Package servelog reads what a `flyte-admission serve` log (controller-
// runtime's JSON lines) says, for tests that start serve with port 0 and
// need the address each listener bound.
package servelog

import (
	"encoding/json"
	"strings"
)

// Messages of the log lines that carry a bound listener address.
const (
	// Webhook is logged once the webhook's TLS listener is bound.
	Webhook = "serving webhooks"
	// ProbesMetrics is logged once a probe and/or metrics listener is bound.
	ProbesMetrics = "serving probes/metrics"
)

// Address returns the "address" of the first JSON line of log whose message
// is msg, or "" when there is none yet.
func Address(log, msg string) string {
	for line := range strings.SplitSeq(log, "\n") {
		var e struct {
			Msg     string `json:"msg"`
			Address string `json:"address"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == msg {
			return e.Address
		}
	}
	return ""
}
