package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/flyte-admission/flyte-admission/internal/crds"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
)

// MakeImage runs `make image` in root for this machine's platform, writing
// into dir, and returns the docker-style tarball to import (Options.Images).
func MakeImage(ctx context.Context, root, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "image", "IMAGE_OUT="+dir, "IMAGE_PLATFORMS=linux/"+runtime.GOARCH)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("make image: %w\n%s", err, out)
	}
	tarball := filepath.Join(dir, "flyte-admission-linux-"+runtime.GOARCH+".tar")
	if _, err := os.Stat(tarball); err != nil {
		return "", fmt.Errorf("make image wrote no %s: %w\n%s", tarball, err, out)
	}
	return tarball, nil
}

// InstallCRDs applies the operators' CRDs (package crds, from the module
// cache of the repository at root) and waits until they are Established.
func (c *Cluster) InstallCRDs(ctx context.Context, root string) error {
	files, err := crds.FilesFrom(root, builtin.CRDs())
	if err != nil {
		return fmt.Errorf("CRDs: %w", err)
	}
	args := []string{"apply", "--server-side"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if _, err := c.Kubectl(ctx, nil, args...); err != nil {
		return err
	}
	// Right after the apply, the conditions may not be set yet: retry.
	return c.waitFor(ctx, "CRDs Established", 2*time.Minute, func() error {
		_, err := c.Kubectl(ctx, nil, "wait", "--for=condition=Established", "crd", "--all", "--timeout=20s")
		return err
	})
}

// Helm is a helm action configuration for namespace, talking to the
// cluster inside its network namespace.
func (c *Cluster) Helm(namespace string) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	kc, ns := c.Kubeconfig, namespace
	flags.KubeConfig, flags.Namespace = &kc, &ns
	flags.WrapConfigFn = func(cfg *rest.Config) *rest.Config {
		cfg.Dial = c.DialContext
		return cfg
	}
	helm := new(action.Configuration)
	if err := helm.Init(flags, namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return helm, nil
}

// ChartValues are the chart values for this cluster: the image from
// MakeImage (the chart's default repository and tag) never pulled, the
// in-cluster apiserver address (no kube-proxy), and the plugin and policy
// configuration of examples/config.
func ChartValues(root string) (map[string]any, error) {
	var env []any
	for _, k := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} {
		env = append(env, map[string]any{"name": k, "value": InClusterEnv[k]})
	}
	values := map[string]any{
		"image":  map[string]any{"pullPolicy": "Never"},
		"server": map[string]any{"extraEnv": env},
	}
	for key, file := range map[string]string{"config": "plugins.yaml", "policies": "policies.yaml"} {
		path := filepath.Join(root, "examples", "config", file)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("chart values: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("chart values: %s: %w", path, err)
		}
		values[key] = m
	}
	return values, nil
}
