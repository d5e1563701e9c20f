package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins/spark"
	"github.com/stretchr/testify/require"
)

const fullFile = `
exempt-namespaces: [kube-system]
invariants: {mode: warn, exempt-namespaces: [legacy]}
allowed-registries:
  mode: audit
  registries: [ghcr.io/flyteorg]
max-resources:
  exempt-namespaces: [research]
  per-pod: {cpu: 16, memory: 64Gi, gpu: 8}
  per-job: {cpu: "256"}
  gpu-resource-names: [nvidia.com/gpu]
required-labels: {labels: [team]}
forbid-privileged: {}
forbid-host-path: {mode: warn}
`

func TestParse(t *testing.T) {
	s, err := Parse([]byte(fullFile))
	require.NoError(t, err)
	require.Equal(t, []string{"invariants", "allowed-registries", "max-resources", "required-labels", "forbid-privileged", "forbid-host-path"}, s.Names())
	require.Equal(t, Warn, s.invariants.Mode)
	require.Equal(t, []string{"legacy"}, s.invariants.ExemptNamespaces)
	modes := map[string]Mode{}
	for _, r := range s.rules {
		modes[r.Policy.Name()] = r.Mode
	}
	require.Equal(t, map[string]Mode{"allowed-registries": Audit, "max-resources": Enforce, "required-labels": Enforce,
		"forbid-privileged": Enforce, "forbid-host-path": Warn}, modes)
	mr := s.rules[1].Policy.(MaxResources)
	require.Equal(t, "16", mr.PerPod.CPU.String())
	require.Equal(t, "64Gi", mr.PerPod.Memory.String())
	require.Equal(t, "256", mr.PerJob.CPU.String())
	require.Nil(t, mr.PerJob.Memory)
	require.Equal(t, []string{"research"}, s.rules[1].ExemptNamespaces)

	// The parsed set works end to end.
	obj, pods := decode(t, spark.New(), sparkApp)
	denials, warnings, audits := s.Evaluate(obj, pods, nil)
	require.Equal(t, []string{"metadata.labels[team]", "spec.driver.securityContext.privileged"}, paths(denials))
	require.Len(t, warnings, 2) // host paths
	require.Len(t, audits, 2)   // registries

	for _, empty := range []string{"", "# nothing\n", "null"} {
		s, err := Parse([]byte(empty))
		require.NoError(t, err)
		require.Equal(t, []string{"invariants"}, s.Names())
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, file, want string
	}{
		{"unknown policy", "forbid-root: {}", `unknown key "forbid-root" (known: allowed-registries, exempt-namespaces, forbid-host-path, forbid-privileged, invariants, max-resources, required-labels)`},
		{"unknown nested key", "max-resources: {per-pod: {cpus: 4}}", `unknown key "max-resources.per-pod.cpus"`},
		{"unknown key next to the common ones", "forbid-privileged: {mode: warn, exempt: [a]}", `unknown key "forbid-privileged.exempt"`},
		{"bad mode", "forbid-host-path: {mode: deny}", `forbid-host-path.mode: unknown mode "deny" (want enforce, warn or audit)`},
		{"bad invariants mode", "invariants: {mode: Enforce}", `invariants.mode: unknown mode "Enforce"`},
		{"bad quantity", "max-resources: {per-job: {memory: 12 GB}}", `max-resources.per-job.memory: invalid quantity "12 GB"`},
		{"negative quantity", "max-resources: {per-pod: {gpu: -1}}", `max-resources.per-pod.gpu: negative quantity "-1"`},
		{"no limits", "max-resources: {mode: warn}", "max-resources: set per-pod or per-job"},
		{"empty registries", "allowed-registries: {registries: []}", "allowed-registries.registries: list at least one"},
		{"blank registry", `allowed-registries: {registries: [ghcr.io, " "]}`, "allowed-registries.registries[1]: empty prefix"},
		{"no labels", "required-labels: {}", "required-labels.labels: list at least one label"},
		{"a string for a list", "exempt-namespaces: kube-system", `exempt-namespaces: want a list, got the string "kube-system"`},
		{"a list for a map", "forbid-privileged: [a]", "forbid-privileged: want a map, got a list"},
		{"a number for a string", "required-labels: {labels: [1]}", "required-labels.labels[0]: want a string, got 1"},
		{"not a map", "- a", "want a map of policies, got a list"},
		{"bad YAML", "a: [", "parse YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoad(t *testing.T) {
	s, err := Load("")
	require.NoError(t, err)
	require.Equal(t, []string{"invariants"}, s.Names())

	path := filepath.Join(t.TempDir(), "policies.yaml")
	require.NoError(t, os.WriteFile(path, []byte("forbid-privileged: {mode: bogus}"), 0o600))
	_, err = Load(path)
	require.ErrorContains(t, err, "policies "+path+": forbid-privileged.mode: unknown mode")

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "read policies")
}
