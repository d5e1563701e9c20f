package builtin

import (
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/crds"
	"github.com/stretchr/testify/require"
)

// TestCRDDefaults checks each plugin's table of CRD defaults against the
// operator's real CRD (outside lists and status).
func TestCRDDefaults(t *testing.T) {
	for _, p := range Registry().Plugins() {
		t.Run(p.Kind().Kind, func(t *testing.T) {
			all, err := crds.Defaults(p.Kind().Kind, CRDs())
			require.NoError(t, err)
			want := map[string]any{}
			for path, v := range all {
				if strings.Contains(path, "[]") || !strings.HasPrefix(path, "spec.") ||
					strings.Contains(path, "gcsFaultToleranceOptions") { // defaults inside optional objects we never generate
					continue
				}
				want[path] = v
			}
			require.Equal(t, want, p.(expand.Plugin).CRDDefaults())
		})
	}
}
