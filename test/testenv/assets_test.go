package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestResolveAssets: KUBEBUILDER_ASSETS wins; unset, the control-plane script
// found in a parent of the working directory is run and its last stdout line
// taken (and exported); a failing script or none at all is an error that
// says what to do.
func TestResolveAssets(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		t.Setenv(AssetsEnv, "/opt/assets")
		dir, err := resolveAssets()
		require.NoError(t, err)
		require.Equal(t, "/opt/assets", dir)
	})

	script := func(t *testing.T, body string) string {
		root := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(root, "hack"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, ControlPlaneScript), []byte("#!/bin/sh\n"+body), 0o755))
		pkg := filepath.Join(root, "some", "package")
		require.NoError(t, os.MkdirAll(pkg, 0o755))
		return pkg
	}
	for _, tc := range []struct {
		name, body, want, wantErr string
	}{
		{"last line of the script", "echo building >&2\necho cached at /x\necho /cache/k8s-1.37.0\n", "/cache/k8s-1.37.0", ""},
		{"script fails", "echo no go >&2\nexit 3\n", "", "failed"},
		{"script prints nothing", "true\n", "", "printed no directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(AssetsEnv, "")
			t.Chdir(script(t, tc.body))
			dir, err := resolveAssets()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, dir)
			require.Equal(t, tc.want, os.Getenv(AssetsEnv), "exported for envtest and child processes")
		})
	}

	t.Run("no script", func(t *testing.T) {
		t.Setenv(AssetsEnv, "")
		t.Chdir(t.TempDir())
		_, err := resolveAssets()
		require.ErrorContains(t, err, "no "+ControlPlaneScript)
	})
}
