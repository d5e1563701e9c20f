// Command pause is the pod sandbox ("infra") process of test/cluster's
// single-node cluster: it sleeps until SIGINT or SIGTERM and reaps the
// children it inherits as PID 1 of a pod's PID namespace. The cluster has no
// registry, so the test builds it and imports it into containerd as
// localhost/pause:local.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 4)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range c {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 {
				break
			}
		}
	}
}
