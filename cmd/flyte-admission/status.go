package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/tasklog"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
)

// statusPageSize is the page size of the status command's list requests.
const statusPageSize = 500

// jobStatus is one row of `flyte-admission status`.
type jobStatus struct {
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Phase     string    `json:"phase"`
	Reason    string    `json:"reason,omitempty"`
	Message   string    `json:"message,omitempty"`
	Code      string    `json:"code,omitempty"`
	Created   time.Time `json:"created"`
	Age       string    `json:"age"`
	// Reported is the phase the watcher last wrote (flyte.org/phase), empty
	// when no watcher reported it.
	Reported string         `json:"reportedPhase,omitempty"`
	Logs     []tasklog.Link `json:"logs"`
}

func newStatusCmd() *cobra.Command {
	var namespace, configPath, output string
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "status [-n NAMESPACE | -A]",
		Short: "List SparkApplications, RayJobs and DaskJobs with their Flyte task phase, like kubectl get",
		Long: `Status lists the SparkApplications, RayJobs and DaskJobs of a namespace (-n, default the
kubeconfig context's) or of all namespaces (-A) with the Flyte task phase mapped from
each object's live status (as the watcher would report it, so it works without the
watcher), its reason, age and first log link. Kinds whose CRD is not installed are
skipped. The cluster comes from --kubeconfig, $KUBECONFIG, the in-cluster config or
~/.kube/config; --config is the plugin configuration of the log links.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if allNamespaces && cmd.Flags().Changed("namespace") {
				return errors.New("-n/--namespace and -A/--all-namespaces are exclusive")
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q (want table or json)", output)
			}
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			kube, err := ctrlconfig.GetConfig()
			if err != nil {
				return fmt.Errorf("cluster config: %w", err)
			}
			scheme := runtime.NewScheme()
			if err := watch.AddToScheme(scheme); err != nil {
				return err
			}
			c, err := client.New(kube, client.Options{Scheme: scheme})
			if err != nil {
				return fmt.Errorf("cluster client: %w", err)
			}
			if !allNamespaces && namespace == "" {
				kubeconfig, _ := cmd.Flags().GetString(ctrlconfig.KubeconfigFlagName)
				namespace = contextNamespace(kubeconfig)
			}
			rows, err := listJobStatus(cmd.Context(), c, scheme, builtin.Registry(), cfg, namespace, time.Now())
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			if len(rows) == 0 {
				if namespace == "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", namespace)
				}
				return nil
			}
			return printJobStatus(cmd.OutOrStdout(), rows)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&namespace, "namespace", "n", "", "namespace to list (default: the kubeconfig context's namespace)")
	fs.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list the jobs of all namespaces")
	fs.StringVar(&configPath, "config", "", "plugin configuration file (flytepropeller's plugins: keys), for the log links")
	fs.StringVarP(&output, "output", "o", "table", "output format: table or json")
	// --kubeconfig is controller-runtime's flag, read by ctrl.GetConfig.
	gofs := flag.NewFlagSet("status", flag.ContinueOnError)
	ctrlconfig.RegisterFlags(gofs)
	fs.AddGoFlagSet(gofs)
	return cmd
}

// contextNamespace is the namespace of the kubeconfig's current context (or
// of the pod, in a cluster), "default" when none is set.
func contextNamespace(kubeconfig string) string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

// listJobStatus lists the objects of every plugin kind in namespace ("" for
// all) and maps each one's status to its Flyte phase. Kinds the cluster does
// not serve are skipped.
func listJobStatus(ctx context.Context, c client.Client, scheme *runtime.Scheme, reg *plugins.Registry, cfg *config.Config, namespace string, now time.Time) ([]jobStatus, error) {
	rows := []jobStatus{}
	for _, plugin := range reg.Plugins() {
		p, ok := plugin.(watch.Phaser)
		if !ok {
			continue // a kind without phases has no status to list
		}
		gvk := p.Kind()
		listObj, err := scheme.New(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
		}
		list, ok := listObj.(client.ObjectList)
		if !ok {
			return nil, fmt.Errorf("list %s: %T is not a list", gvk.Kind, listObj)
		}
		start := len(rows)
		for cont := ""; ; {
			err := c.List(ctx, list, client.InNamespace(namespace), client.Limit(statusPageSize), client.Continue(cont))
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				break // CRD not installed
			}
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
			}
			items, err := meta.ExtractList(list)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
			}
			for _, item := range items {
				obj, ok := item.(client.Object)
				if !ok {
					continue
				}
				rows = append(rows, jobRow(p, obj, cfg, now))
			}
			if cont = list.GetContinue(); cont == "" {
				break
			}
		}
		kindRows := rows[start:]
		sort.Slice(kindRows, func(i, j int) bool {
			if kindRows[i].Namespace != kindRows[j].Namespace {
				return kindRows[i].Namespace < kindRows[j].Namespace
			}
			return kindRows[i].Name < kindRows[j].Name
		})
	}
	return rows, nil
}

func jobRow(p watch.Phaser, obj client.Object, cfg *config.Config, now time.Time) jobStatus {
	info := p.Phase(obj, cfg, now)
	created := obj.GetCreationTimestamp().Time
	logs := info.Logs
	if logs == nil {
		logs = []tasklog.Link{}
	}
	reason := info.Reason
	if reason == "" {
		reason = info.Message
	}
	return jobStatus{
		Kind:      p.Kind().Kind,
		Namespace: obj.GetNamespace(),
		Name:      obj.GetName(),
		Phase:     info.Phase,
		Reason:    reason,
		Message:   info.Message,
		Code:      info.Code,
		Created:   created,
		Age:       duration.HumanDuration(now.Sub(created)),
		Reported:  obj.GetAnnotations()[watch.PhaseAnnotation],
		Logs:      logs,
	}
}

func printJobStatus(w io.Writer, rows []jobStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tPHASE\tREASON\tAGE\tLOG")
	oneLine := strings.NewReplacer("\n", " ", "\t", " ")
	for _, r := range rows {
		link := ""
		if len(r.Logs) > 0 {
			link = r.Logs[0].URI
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, r.Namespace, r.Name, r.Phase, oneLine.Replace(r.Reason), r.Age, link)
	}
	return tw.Flush()
}
