// Command flyte-admission brings Flyte's Spark, Ray and Dask task plugins to
// plain Kubernetes: an admission webhook that expands skeletal objects, a
// validator of their invariants, a status watcher, and offline tools.
package main

import (
	"fmt"
	"os"
)

func main() {
	cmd := newRootCmd(os.Stdin, os.Stdout, os.Stderr)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(exitCode(err))
	}
}
