// Command flyte-admission brings Flyte's Spark, Ray and Dask task plugins to
// plain Kubernetes: an admission webhook that expands skeletal objects, a
// validator of their invariants, a status watcher, and offline tools.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
)

// version and revision are set at link time by `make image` (hack/image:
// -ldflags "-X main.version=... -X main.revision=..."); `flyte-admission
// --version` prints them. A plain `go build` leaves version "dev" and takes
// the revision from the Go toolchain's VCS stamp, if any.
var (
	version  = "dev"
	revision = ""
)

// versionString is "VERSION (REVISION)", or VERSION alone when no revision
// is known.
func versionString() string {
	rev := revision
	if rev == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
	}
	if rev == "" {
		return version
	}
	return version + " (" + rev + ")"
}

func main() {
	cmd := newRootCmd(os.Stdin, os.Stdout, os.Stderr)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(exitCode(err))
	}
}
