package builtin_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/stretchr/testify/require"
)

// TestBuiltinPluginsImplementEveryCallerInterface: each caller declares what
// it needs of a plugin where it uses it; the built-in plugins provide all of
// it, so none of them is silently skipped by a caller that type-asserts.
func TestBuiltinPluginsImplementEveryCallerInterface(t *testing.T) {
	for _, p := range builtin.Registry().Plugins() {
		t.Run(p.Kind().Kind, func(t *testing.T) {
			require.Implements(t, (*plugins.TaskTyper)(nil), p)
			require.Implements(t, (*expand.Plugin)(nil), p)
			require.Implements(t, (*expand.Recycler)(nil), p)
			require.Implements(t, (*watch.Phaser)(nil), p)
			require.Implements(t, (*watch.SchemeAdder)(nil), p)
			require.Implements(t, (*webhook.InvariantChecker)(nil), p)
			require.Implements(t, (*policy.PodLister)(nil), p)
		})
	}
}

// kindPackages are the plugin packages whose kinds are known only to
// plugins/ (and registered in plugins/builtin), and the operator API
// packages of their kinds.
var kindPackages = []string{
	"github.com/flyte-admission/flyte-admission/plugins/",
	"github.com/kubeflow/spark-operator",
	"github.com/ray-project/kuberay",
	"github.com/dask/dask-kubernetes",
}

// TestKindCodeStaysInPlugins: a new kind is one folder under plugins/ and one
// line in plugins/builtin. No production Go file outside plugins/ imports a
// plugin package other than plugins/builtin, nor a kind's operator API. Test
// files, test/ (harnesses and demos that build objects of every kind) and
// hack/ are exempt.
func TestKindCodeStaysInPlugins(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var leaks []string
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch rel {
			case "plugins", "test", "hack", ".git":
				return filepath.SkipDir
			}
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if ip == "github.com/flyte-admission/flyte-admission/plugins/builtin" {
				continue
			}
			for _, k := range kindPackages {
				if strings.HasPrefix(ip, k) {
					leaks = append(leaks, rel+" imports "+ip)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, checked, 50, "the walk must reach the production packages")
	require.Empty(t, leaks)
}
