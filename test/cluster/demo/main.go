// Command demo is `make demo-cluster`: the real-cluster test's bring-up
// (package cluster) left running for a user to watch. It builds what is
// missing, starts the single-node cluster in its own network namespace,
// installs the chart with the image from `make image`, applies examples/,
// prints what the webhook stored, then watches the chart's pods until
// Ctrl-C and removes everything. Needs root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/flyte-admission/flyte-admission/test/cluster"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "demo-cluster:", err)
		os.Exit(1)
	}
}

func run(root string) (err error) {
	root, err = filepath.Abs(root)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }
	step := func(s string) { fmt.Printf("==> %s\n", s) }

	step("packages (containerd, runc, CNI plugins) and binaries (etcd, kube-apiserver, kubelet, kube-controller-manager, kube-scheduler)")
	if err := cluster.EnsureHostPackages(ctx, logf); err != nil {
		return err
	}
	assets, err := cluster.Binaries(ctx, root)
	if err != nil {
		return err
	}
	step("make image")
	imageDir, err := os.MkdirTemp("", "fac-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(imageDir)
	tarball, err := cluster.MakeImage(ctx, root, imageDir)
	if err != nil {
		return err
	}
	step("single-node cluster in its own network namespace")
	c, err := cluster.Start(ctx, assets, cluster.Options{Root: root, Images: []string{tarball}, Logf: logf})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the cluster and removing everything it made")
		if serr := c.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := c.InstallCRDs(ctx, root); err != nil {
		return err
	}
	step("helm install flyte-admission charts/flyte-admission -n flyte-admission --create-namespace --wait")
	helm, err := c.Helm("flyte-admission")
	if err != nil {
		return err
	}
	ch, err := loader.Load(filepath.Join(root, "charts", "flyte-admission"))
	if err != nil {
		return err
	}
	values, err := cluster.ChartValues(root)
	if err != nil {
		return err
	}
	inst := action.NewInstall(helm)
	inst.ReleaseName, inst.Namespace, inst.CreateNamespace = "flyte-admission", "flyte-admission", true
	inst.Wait, inst.Timeout = true, 3*time.Minute
	if _, err := inst.RunWithContext(ctx, ch, values); err != nil {
		return fmt.Errorf("helm install: %w", err)
	}
	step("kubectl apply -f examples/")
	if _, err := c.Kubectl(ctx, nil, "apply", "-f", filepath.Join(root, "examples", "00-namespace.yaml")); err != nil {
		return err
	}
	out, err := c.Kubectl(ctx, nil, "apply", "-f", filepath.Join(root, "examples"))
	if err != nil {
		return err
	}
	fmt.Print(string(out))
	out, err = c.Kubectl(ctx, nil, "get", "sparkapplications,rayjobs,daskjobs", "-n", "flytesnacks-development",
		"-o", `custom-columns=KIND:.kind,NAME:.metadata.name,EXPANDED-FROM:.metadata.annotations.flyte\.org/expanded-from,PHASE:.metadata.annotations.flyte\.org/phase`)
	if err != nil {
		return err
	}
	fmt.Print(string(out))

	step("the chart's pods (Ctrl-C stops and removes everything)")
	fmt.Printf("    in another shell: ip netns exec %s kubectl --kubeconfig %s get pods -A\n", c.NetNS, c.Kubeconfig)
	watch := exec.CommandContext(ctx, "ip", "netns", "exec", c.NetNS, "kubectl", "--kubeconfig", c.Kubeconfig,
		"get", "pods", "-n", "flyte-admission", "-o", "wide", "--watch")
	watch.Stdout, watch.Stderr = os.Stdout, os.Stderr
	_ = watch.Run() // ends with Ctrl-C
	return nil
}
