package policy

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExamplePolicies keeps examples/config/policies.yaml loadable.
func TestExamplePolicies(t *testing.T) {
	s, err := Load("../examples/config/policies.yaml")
	require.NoError(t, err)
	require.Contains(t, s.Names(), "allowed-registries")
	require.Contains(t, s.Names(), "forbid-host-path")
}
