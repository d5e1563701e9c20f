package load

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/flyte-admission/flyte-admission/certs"
	"github.com/flyte-admission/flyte-admission/test/freeport"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
)

// Build runs `go build -o out pkg` in the module at root.
func Build(t testing.TB, root, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, b)
}

// Certs writes a CA and a serving certificate for 127.0.0.1 into dir
// (tls.crt, tls.key, ca.crt) and returns the CA bundle.
func Certs(t testing.TB, dir string) []byte {
	t.Helper()
	m, err := certs.New(certs.Options{CertDir: dir, Dir: dir + "-store", ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")}, Log: logr.Discard()})
	require.NoError(t, err)
	require.NoError(t, m.Ensure(context.Background()))
	return m.CABundle()
}

// Server is a webhook server process started by Start.
type Server struct {
	// Name labels the server in reports; URL is its base URL
	// (https://127.0.0.1:port).
	Name, URL string
	Cmd       *exec.Cmd
}

// Start runs bin with args plus --host and --port of a free loopback port
// (the no-op server cannot bind port 0), logging to a file that is printed
// if the test fails; a t.Cleanup stops it with SIGTERM.
func Start(t testing.TB, name, bin string, args ...string) *Server {
	t.Helper()
	addr := freeport.Loopback(t)
	host, port, _ := net.SplitHostPort(addr)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	require.NoError(t, err)
	cmd := exec.Command(bin, append(args, "--host", host, "--port", port)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return &Server{Name: name, URL: "https://" + addr, Cmd: cmd}
}

// WaitServing waits until the server answers reqs[0] well.
func (s *Server) WaitServing(t testing.TB, c *http.Client, reqs []Request) {
	t.Helper()
	require.Eventually(t, func() bool {
		st := Run(context.Background(), c, s.URL, reqs[:1], 1000, time.Millisecond)
		return st.Sent == 1 && st.Errors == 0
	}, time.Minute, 200*time.Millisecond, "%s never served", s.Name)
}
