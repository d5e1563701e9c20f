package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/policy"
	"github.com/flyte-admission/flyte-admission/watch"
	"github.com/flyte-admission/flyte-admission/webhook"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// inputFlags are the flags every offline command shares.
type inputFlags struct {
	file, config string
}

func (f *inputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "filename", "f", "", "file with objects (YAML or JSON, multi-document), or - for stdin")
	cmd.Flags().StringVar(&f.config, "config", "", "plugin configuration file (flytepropeller's plugins: keys)")
	_ = cmd.MarkFlagRequired("filename")
}

func (f *inputFlags) load(cmd *cobra.Command) ([]objects.Object, *config.Config, error) {
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, nil, err
	}
	if f.file == "-" {
		objs, err := objects.Read(cmd.InOrStdin())
		if err != nil {
			return nil, nil, fmt.Errorf("stdin: %w", err)
		}
		return objs, cfg, nil
	}
	objs, err := objects.ReadPath(f.file)
	return objs, cfg, err
}

func newExpandCmd() *cobra.Command {
	var in inputFlags
	var output string
	var showDiff bool
	cmd := &cobra.Command{
		Use:   "expand -f FILE",
		Short: "Print the fully expanded objects, as the mutating webhook would store them",
		Long: `Expand reads SparkApplications, RayJobs and DaskJobs carrying a flyte.org/task-template
annotation and prints each fully expanded, exactly as Flyte's plugins would build it.
Other objects pass through unchanged; PodTemplates in the input serve as the
pod templates a task may name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, cfg, err := in.load(cmd)
			if err != nil {
				return err
			}
			templates := objects.PodTemplates{}
			for _, o := range objs {
				if o.Map["kind"] == "PodTemplate" {
					if err := templates.Add(o.Map); err != nil {
						return fmt.Errorf("%s: %w", o.Describe(), err)
					}
				}
			}
			x := &expand.Expander{Registry: builtin.Registry(), Env: plugins.Env{Config: cfg, Templates: templates}}
			var out []map[string]any
			var failed []string
			for _, o := range objs {
				res, err := x.Expand(cmd.Context(), o.Map, nil)
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", o.Describe(), err))
					continue
				}
				if showDiff {
					printDiff(cmd.OutOrStdout(), o, res)
					continue
				}
				out = append(out, res.Object())
			}
			if len(failed) > 0 {
				return &exitError{code: 1, msg: strings.Join(failed, "\n")}
			}
			if showDiff {
				return nil
			}
			return objects.Write(cmd.OutOrStdout(), output, out)
		},
	}
	in.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().BoolVar(&showDiff, "diff", false, "print what the expansion adds or changes (as JSON patch operations) instead of the objects")
	return cmd
}

func printDiff(w io.Writer, o objects.Object, res *expand.Result) {
	fmt.Fprintf(w, "# %s: ", o.Describe())
	if len(res.Patch) == 0 {
		reason := res.Skipped
		if reason == "" {
			reason = "nothing to change"
		}
		fmt.Fprintf(w, "unchanged (%s)\n", reason)
		return
	}
	fmt.Fprintf(w, "%d changes\n", len(res.Patch))
	for _, op := range res.Patch {
		sign := map[string]string{"add": "+", "remove": "-", "replace": "~"}[op.Op]
		if op.Op == "remove" {
			fmt.Fprintf(w, "%s %s\n", sign, op.Path)
			continue
		}
		v, _ := json.Marshal(op.Value)
		fmt.Fprintf(w, "%s %s: %s\n", sign, op.Path, v)
	}
}

// typed decodes an object of one of our kinds into its Go type.
func typed(reg *plugins.Registry, o objects.Object) (plugins.Plugin, client.Object, error) {
	av, _ := o.Map["apiVersion"].(string)
	kind, _ := o.Map["kind"].(string)
	p, ok := reg.ForKind(schema.FromAPIVersionAndKind(av, kind).GroupKind())
	if !ok {
		return nil, nil, nil
	}
	obj := p.NewObject()
	if err := objects.Into(o.Map, obj); err != nil {
		return p, nil, fmt.Errorf("decode: %w", err)
	}
	return p, obj, nil
}

func newValidateCmd() *cobra.Command {
	var in inputFlags
	var policiesPath string
	cmd := &cobra.Command{
		Use:   "validate -f FILE [--config F] [--policies F]",
		Short: "Check SparkApplications, RayJobs and DaskJobs as the validating webhook does",
		Long: `Validate runs exactly what the validating webhook runs on each object — the
plugins' invariants (Spark driver not interruptible, Ray submitter image = head image,
Ray logs sidecar present when configured, Dask --dashboard-prefix set when log templates
need it), the operators' own rules (KubeRay's RayJob validation; spark-operator's refused
sparkConf keys, names and a required main application file), valid resource quantities,
and the cluster policies of --policies (the defaults without it) — and also reports
skeletons that were never expanded. Enforce-mode findings are violations (exit 1);
warn- and audit-mode findings are printed as such.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, cfg, err := in.load(cmd)
			if err != nil {
				return err
			}
			var set *policy.Set
			if policiesPath != "" {
				if set, err = policy.Load(policiesPath); err != nil {
					return fmt.Errorf("load policies: %w", err)
				}
			}
			reg := builtin.Registry()
			out := cmd.OutOrStdout()
			violations := 0
			for _, o := range objs {
				p, obj, err := typed(reg, o)
				if err != nil {
					fmt.Fprintf(out, "%s: %v\n", o.Describe(), err)
					violations++
					continue
				}
				if p == nil {
					continue
				}
				if e := expand.CheckExpanded(obj.GetAnnotations()); e != nil {
					fmt.Fprintf(out, "%s: %s\n", o.Describe(), e.Error())
					violations++
				}
				for _, f := range webhook.Findings(set, p, obj, cfg) {
					for _, m := range f.Messages() {
						switch f.Mode {
						case policy.Enforce:
							fmt.Fprintf(out, "%s: %s\n", o.Describe(), m)
							violations++
						default:
							fmt.Fprintf(out, "%s: %s (%s mode, not a violation)\n", o.Describe(), m, f.Mode)
						}
					}
				}
			}
			if violations > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d violation(s)", violations)}
			}
			fmt.Fprintln(out, "no violations")
			return nil
		},
	}
	in.register(cmd)
	cmd.Flags().StringVar(&policiesPath, "policies", "", "cluster policies file, as serve --policies (default: the built-in defaults)")
	return cmd
}

func newPhaseCmd() *cobra.Command {
	var in inputFlags
	var output string
	cmd := &cobra.Command{
		Use:   "phase -f FILE",
		Short: "Map each object's status to a Flyte task phase, with its log links",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, cfg, err := in.load(cmd)
			if err != nil {
				return err
			}
			reg := builtin.Registry()
			type row struct {
				desc string
				info plugins.PhaseInfo
			}
			var rows []row
			for _, o := range objs {
				p, obj, err := typed(reg, o)
				if err != nil {
					return fmt.Errorf("%s: %w", o.Describe(), err)
				}
				ph, ok := p.(watch.Phaser)
				if !ok {
					continue // not a kind of ours, or one without phases
				}
				rows = append(rows, row{o.Describe(), ph.Phase(obj, cfg, time.Now())})
			}
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if len(rows) == 1 {
					return enc.Encode(rows[0].info)
				}
				infos := make([]plugins.PhaseInfo, len(rows))
				for i := range rows {
					infos[i] = rows[i].info
				}
				return enc.Encode(infos)
			case "", "table":
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "OBJECT\tPHASE\tREASON\tLOG")
				for _, r := range rows {
					reason := r.info.Reason
					if reason == "" {
						reason = r.info.Message
					}
					link := ""
					if len(r.info.Logs) > 0 {
						link = r.info.Logs[0].URI
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.desc, r.info.Phase, reason, link)
				}
				return tw.Flush()
			}
			return fmt.Errorf("unknown output format %q (want table or json)", output)
		},
	}
	in.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}
