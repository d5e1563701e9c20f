package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestCertificateRotation runs serve with self-managed certificates that live
// 30 s (renewed every 20 s) and sends admission requests through the
// apiserver until a renewed serving certificate has been seen on the wire
// and at least 100 requests were sent (events; a deadline only guards a
// hang): every request succeeds while the serving certificate changes under
// it.
func TestCertificateRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a minute")
	}
	c := startCluster(t, "", "--cert-mode", "self", "--cert-dir", t.TempDir(), "--extra-san", "127.0.0.1",
		"--cert-validity", "30s", "--webhook-name", "flyte-admission")
	ctx := context.Background()
	require.NoError(t, client.IgnoreAlreadyExists(c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flytesnacks-development"}})))

	objs, err := objects.ReadPath("../../examples/dask-basic.yaml")
	require.NoError(t, err)
	skeleton := objs[0].Map

	wio := c.Env.Env.WebhookInstallOptions
	addr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	var serialsMu sync.Mutex
	serials := map[string]bool{}
	var renewed atomic.Bool
	observe := func() {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reading which certificate is served
		if err != nil {
			return
		}
		defer conn.Close()
		serialsMu.Lock()
		serials[conn.ConnectionState().PeerCertificates[0].SerialNumber.String()] = true
		renewed.Store(len(serials) >= 2)
		serialsMu.Unlock()
	}

	var sent, failed atomic.Int64
	hang := time.Now().Add(5 * time.Minute)
	done := func() bool { return (renewed.Load() && sent.Load() >= 100) || time.Now().After(hang) }
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !done(); i++ {
				u := &unstructured.Unstructured{Object: deepCopyMap(skeleton)}
				u.SetName("rotate-" + strconv.Itoa(w) + "-" + strconv.Itoa(i))
				err := c.Client.Create(ctx, u, client.DryRunAll)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					t.Logf("request failed: %v", err)
				} else if _, ok := u.GetAnnotations()["flyte.org/expanded-from"]; !ok {
					failed.Add(1)
					t.Logf("request %s was not expanded", u.GetName())
				}
				if i%10 == 0 {
					observe()
				}
			}
		}(w)
	}
	wg.Wait()
	t.Logf("certificate rotation: %d requests sent, %d failed, %d serving certificates seen", sent.Load(), failed.Load(), len(serials))
	require.Zero(t, failed.Load())
	require.True(t, renewed.Load(), "the serving certificate was not renewed within the deadline")
	require.GreaterOrEqual(t, sent.Load(), int64(100))
}

func deepCopyMap(m map[string]any) map[string]any {
	return expand.Plain(runtimeCopy(m))
}

func runtimeCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			v = runtimeCopy(mm)
		}
		out[k] = v
	}
	return out
}
