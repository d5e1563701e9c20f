package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/skeleton"
	"github.com/spf13/cobra"
)

func newSkeletonCmd() *cobra.Command {
	var (
		file, output, encoding string
		kindFromType           bool
		images                 []string
		o                      skeleton.Options
	)
	cmd := &cobra.Command{
		Use:   "skeleton -f PACKAGE.tgz|TASK.pb|DIR",
		Short: "Write a ready-to-apply skeleton for each Spark, Ray and Dask task that pyflyte package serialized",
		Long: `Skeleton reads what pyflyte package (or pyflyte serialize) wrote — binary admin.TaskSpec
files, in a tarball, a directory or one .pb file — fills the registration placeholders as
flytectl register files does (--project, --domain, --version; fast-registration paths;
flytekit image placeholders from --image as pyflyte register does) and writes one
SparkApplication, RayJob or DaskJob per Spark, Ray or Dask task, its kind chosen from the
task type by the plugin registry, with the template in the flyte.org/task-template
annotation. Other tasks, workflows and launch plans are skipped with a note on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !kindFromType {
				return fmt.Errorf("--kind-from-type=false: the kind comes only from the task type (spark, ray, dask)")
			}
			switch encoding {
			case "json":
			case "base64":
				o.Binary = true
			default:
				return fmt.Errorf("--template-encoding %q: want json or base64", encoding)
			}
			var err error
			if o.Images, err = skeleton.ParseImages(images); err != nil {
				return err
			}
			if rest, ok := strings.CutPrefix(o.Execution, "@"); ok {
				data, err := os.ReadFile(rest)
				if err != nil {
					return fmt.Errorf("--execution: %w", err)
				}
				o.Execution = string(data)
			}
			files, err := skeleton.Read(file)
			if err != nil {
				return err
			}
			res, err := skeleton.Build(files, builtin.Registry(), o)
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "skipped %s: %s\n", s.File, s.Reason)
			}
			if len(res.Skeletons) == 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%s: no Spark, Ray or Dask task", file)}
			}
			objs := make([]map[string]any, len(res.Skeletons))
			for i, s := range res.Skeletons {
				objs[i] = s.Object
			}
			return objects.Write(cmd.OutOrStdout(), output, objs)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "filename", "f", "", "pyflyte package's tarball (.tgz, .tar.gz, .tar), a directory of serialized files, or one .pb file")
	_ = cmd.MarkFlagRequired("filename")
	f.BoolVar(&kindFromType, "kind-from-type", true, "choose each object's kind from its task type through the plugin registry (the only way)")
	f.StringVarP(&o.Project, "project", "p", "", "project of tasks whose identifier has none (flytectl register files -p)")
	f.StringVarP(&o.Domain, "domain", "d", "", "domain of tasks whose identifier has none (flytectl register files -d)")
	f.StringVarP(&o.Version, "version", "v", "v1", "version of tasks whose identifier has none (flytectl register files --version)")
	f.BoolVar(&o.Force, "force", false, "use --version even where the identifier has a version")
	f.StringArrayVarP(&images, "image", "i", nil, "NAME=IMAGE or IMAGE (NAME default), for {{.image.NAME.fqn}} placeholders, as pyflyte register -i (repeatable)")
	f.StringVar(&o.RemotePackagePath, "remote-package-path", "", "where the fast-registration source archive was uploaded ({{ .remote_package_path }})")
	f.StringVar(&o.DestinationDir, "destination-dir", "", "directory the task unpacks fast-registered code into ({{ .dest_dir }}, default .)")
	f.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the skeletons (default PROJECT-DOMAIN)")
	f.StringVar(&o.Name, "name", "", "name of the one skeleton written (default: from the task name)")
	f.StringArrayVar(&o.Tasks, "task", nil, "write only this task (its full name; repeatable)")
	f.StringVar(&o.Execution, "execution", "", "flyte.org/execution annotation of every skeleton (JSON or YAML, or @FILE)")
	f.StringVar(&encoding, "template-encoding", "json", "json (protobuf JSON, camelCase) or base64 (binary protobuf after \"base64:\")")
	f.StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}
