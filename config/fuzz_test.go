package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any configuration text yields a config or an error, never a
// panic; a parsed config has its defaults filled.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../cmd/flyte-admission/testdata/conformance/*/*/config.yaml")
	more, _ := filepath.Glob("../cmd/flyte-admission/testdata/conformance-flytekit/*/*/config.yaml")
	helm, _ := filepath.Glob("testdata/helm/*.yaml")
	files = append(append(append(files, more...), helm...), "../examples/config/plugins.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("plugins: {k8s: {default-cpus: lots}}"))
	f.Add([]byte("plugins: [1, 2]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if c.Generation == "" || c.Plugins.K8s.GpuResourceName == "" {
			t.Fatal("parsed config lacks its generation or defaults")
		}
	})
}
