package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExpandOutputIsAFixedPoint: expanding the output of expand again prints
// the same bytes, in JSON as in YAML (one canonical key order), for each
// example alone and for the whole directory (a JSON v1 List).
func TestExpandOutputIsAFixedPoint(t *testing.T) {
	for _, path := range []string{
		"../../examples/spark-pi.yaml",
		"../../examples/ray-train.yaml",
		"../../examples/dask-basic.yaml",
		"../../examples",
	} {
		for _, format := range []string{"json", "yaml"} {
			t.Run(strings.TrimPrefix(path, "../../")+"/"+format, func(t *testing.T) {
				first, stderr, code := run(t, "expand", "-f", path, "-o", format)
				require.Equal(t, 0, code, stderr)
				require.NotEmpty(t, first)

				var out, errOut bytes.Buffer
				cmd := newRootCmd(strings.NewReader(first), &out, &errOut)
				cmd.SetArgs([]string{"expand", "-f", "-", "-o", format})
				require.NoError(t, cmd.Execute(), errOut.String())
				require.Equal(t, first, out.String(), "re-expanding the output changed it")
			})
		}
	}
}
