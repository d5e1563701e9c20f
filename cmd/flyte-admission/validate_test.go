package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValidateRunsTheWebhooksPath: `validate` judges objects exactly as the
// validating webhook does — invariants, resource quantities and the cluster
// policies of --policies, each in its mode.
func TestValidateRunsTheWebhooksPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	const app = `apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: by-hand, namespace: ml}
spec:
  type: Python
  mode: cluster
  sparkVersion: "3.5.1"
  mainApplicationFile: local:///app.py
  driver: {cores: 1, memory: 1g, image: %s%s}
  executor: {instances: 2, cores: 1, memory: 1g, image: %s}
`
	format := func(image, driverExtra string) string {
		return strings.NewReplacer("%s%s", image+driverExtra, "%s", image).Replace(app)
	}
	policies := "../../examples/config/policies.yaml"
	cases := []struct {
		name, object string
		args         []string
		code         int
		want         []string
	}{
		{"clean", format("ghcr.io/flyteorg/spark:3.5", ""), []string{"--policies", policies}, 0, []string{"no violations"}},
		{"a warn-mode policy is reported, not counted", format("registry.example.com/x:1", ""), []string{"--policies", policies}, 0,
			[]string{"allowed-registries: spec.driver.image", "warn mode, not a violation", "no violations"}},
		{"an enforce-mode policy is a violation", format("ghcr.io/flyteorg/spark:3.5", ", coreLimit: \"64\", memoryOverhead: 1g, memory: 100Gi"),
			[]string{"--policies", policies}, 1, []string{"max-resources"}},
		{"an invariant is a violation", format("ghcr.io/flyteorg/spark:3.5", ", tolerations: [{key: lifecycle, operator: Equal, value: spot, effect: NoSchedule}]"),
			[]string{"--config", "../../examples/config/plugins.yaml"}, 1, []string{"spec.driver.tolerations[0]", "interruptible"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := write(strings.Repeat("x", i+1)+".yaml", c.object)
			out, stderr, code := run(t, append([]string{"validate", "-f", f}, c.args...)...)
			require.Equal(t, c.code, code, "%s%s", out, stderr)
			for _, w := range c.want {
				require.Contains(t, out, w)
			}
		})
	}
	_, stderr, code := run(t, "validate", "-f", write("ok.yaml", format("ghcr.io/flyteorg/spark:3.5", "")), "--policies", write("bad.yaml", "allowed-registries: {mode: sometimes}\n"))
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "load policies")
}
