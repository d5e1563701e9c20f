package expand_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/test/expansions"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// invariantChecker is the plugins' Validate (webhook.InvariantChecker).
type invariantChecker interface {
	Validate(obj client.Object, cfg *config.Config) field.ErrorList
}

// validateExpanded is the validating webhook's verdict on an expansion: the
// provenance marker and the plugin's invariants (operators' rules included).
func validateExpanded(t testing.TB, res *expand.Result, cfg *config.Config) field.ErrorList {
	t.Helper()
	obj, err := expansions.Typed(res.Plugin, res.Object())
	require.NoError(t, err)
	errs := res.Plugin.(invariantChecker).Validate(obj, cfg)
	if e := expand.CheckExpanded(obj.GetAnnotations()); e != nil {
		errs = append(errs, e)
	}
	return errs
}

// TestValidateExpandIsEmpty: validate(expand(x)) is empty for every input
// that expands — every example, every conformance case and the fuzz corpus —
// so the webhook never refuses its own expansion.
func TestValidateExpandIsEmpty(t *testing.T) {
	cases, err := expansions.All("..")
	require.NoError(t, err)
	expanded := 0
	for _, c := range cases {
		if c.Err != nil {
			continue
		}
		expanded++
		t.Run(c.Name, func(t *testing.T) {
			errs := c.Plugin.(invariantChecker).Validate(c.Object, c.Config)
			if e := expand.CheckExpanded(c.Object.GetAnnotations()); e != nil {
				errs = append(errs, e)
			}
			require.Empty(t, errs)
		})
	}
	require.GreaterOrEqual(t, expanded, 20, "examples and conformance cases that expand")

	x := newExpander(t, "../examples/config/plugins.yaml")
	files, err := filepath.Glob("testdata/fuzz/FuzzExpandRaw/*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run("fuzz/"+filepath.Base(f), func(t *testing.T) {
			raw := readCorpusEntry(t, f)
			res, err := x.ExpandRaw(context.Background(), raw, nil)
			if err != nil || res.Plugin == nil || res.Skipped != "" {
				t.Skipf("does not expand: %v", err)
			}
			require.Empty(t, validateExpanded(t, res, x.Env.Config))
		})
	}
}

// readCorpusEntry reads a one-value []byte entry of Go's fuzz corpus format.
func readCorpusEntry(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitN(strings.TrimSpace(string(data)), "\n", 2)
	require.Len(t, lines, 2, path)
	require.Equal(t, "go test fuzz v1", lines[0], path)
	v := strings.TrimSpace(lines[1])
	require.True(t, strings.HasPrefix(v, "[]byte(") && strings.HasSuffix(v, ")"), path)
	s, err := strconv.Unquote(v[len("[]byte(") : len(v)-1])
	require.NoError(t, err, path)
	return []byte(s)
}
