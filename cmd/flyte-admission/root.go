package main

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit code (1: violations or failed objects).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "flyte-admission",
		Short:         "Flyte's Spark, Ray and Dask plugins as a Kubernetes admission webhook",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.AddCommand(newExpandCmd(), newValidateCmd(), newPhaseCmd(), newStatusCmd(), newSkeletonCmd())
	root.AddCommand(newServeCmd(), newManifestsCmd())
	return root
}
