// Package freeport finds free loopback TCP ports for the servers that the
// benchmarks (test/load, test/bench/watch) and the demo start and whose bound
// address they cannot read back: the port is free when asked, and another
// process may take it before the server binds it. Tests bind port 0 instead
// (webhook.Options.Port, serve --port 0 / --probe-addr 127.0.0.1:0, read back
// with Server.WebhookAddr or test/servelog).
package freeport

import (
	"net"
	"testing"
)

// Addr returns "127.0.0.1:<port>" for a port that was free when asked.
func Addr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Loopback is Addr for tests: it fails tb when no port is free.
func Loopback(tb testing.TB) string {
	tb.Helper()
	addr, err := Addr()
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	return addr
}

// Port is Loopback's port number.
func Port(tb testing.TB) int {
	tb.Helper()
	_, port, err := net.SplitHostPort(Loopback(tb))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
