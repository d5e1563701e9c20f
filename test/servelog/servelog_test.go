package servelog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAddress(t *testing.T) {
	log := `not json
{"level":"info","msg":"starting","port":0}
{"level":"info","logger":"https","msg":"serving webhooks","address":"127.0.0.1:40123"}
{"level":"info","msg":"serving probes/metrics","address":"127.0.0.1:40124"}
{"level":"info","msg":"serving probes/metrics","address":"127.0.0.1:40125"}
`
	for _, tc := range []struct{ msg, want string }{
		{Webhook, "127.0.0.1:40123"},
		{ProbesMetrics, "127.0.0.1:40124"}, // the first one
		{"no such message", ""},
	} {
		require.Equal(t, tc.want, Address(log, tc.msg), tc.msg)
	}
	require.Empty(t, Address("", Webhook))
}
