// Command noop is the floor of the admission load benchmark: a
// controller-runtime webhook server whose /mutate and /validate allow every
// request without looking at it. It serves the same certificate over the
// same TLS settings as flyte-admission, so the difference between the two is
// flyte-admission's own work.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	fawebhook "github.com/flyte-admission/flyte-admission/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 9443, "HTTPS port")
	certDir := flag.String("cert-dir", "", "directory holding tls.crt and tls.key")
	flag.Parse()
	if err := run(*host, *port, *certDir); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}

func run(host string, port int, certDir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := webhook.NewServer(webhook.Options{
		Host: host, Port: port, CertDir: certDir,
		TLSOpts: []func(*tls.Config){fawebhook.TLSDefaults},
	})
	allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})
	srv.Register("/mutate", &admission.Webhook{Handler: allow})
	srv.Register("/validate", &admission.Webhook{Handler: allow})
	return srv.Start(ctx)
}
