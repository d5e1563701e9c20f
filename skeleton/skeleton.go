// Package skeleton turns what `pyflyte package` (or `pyflyte serialize`)
// writes — binary flyteidl admin.TaskSpec files, usually in a tarball — into
// skeletal SparkApplications, RayJobs and DaskJobs ready for kubectl apply:
// the registration placeholders filled as `flytectl register files` fills
// them, the kind chosen by the plugin registry from the task type, and the
// TaskTemplate in the flyte.org/task-template annotation (protobuf JSON as
// protojson writes it, or the base64 binary form).
package skeleton

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Options are what registration would supply: flytectl's --project,
// --domain, --version and --force, pyflyte's --image, the fast-registration
// locations, and where and how the skeletons are written.
type Options struct {
	Project, Domain, Version string
	// Force replaces a version the identifier already has (flytectl --force).
	Force bool
	// Images resolve `{{.image.NAME.fqn}}` placeholders (NAME "default" for
	// an unnamed --image).
	Images map[string]string
	// RemotePackagePath replaces `{{ .remote_package_path }}`: where the
	// package's fast*.tar.gz was uploaded (fast registration).
	RemotePackagePath string
	// DestinationDir replaces `{{ .dest_dir }}` ("." when empty).
	DestinationDir string
	// Namespace of the skeletons; "<project>-<domain>" when empty.
	Namespace string
	// Name of the one skeleton written; each is named after its task when
	// empty.
	Name string
	// Execution is the flyte.org/execution annotation, written when set.
	Execution string
	// Binary writes the template in the base64 binary form.
	Binary bool
	// Tasks selects tasks by name (all when empty).
	Tasks []string
}

// Skipped is a file that gave no skeleton, and why.
type Skipped struct {
	File, Reason string
}

// Skeleton is one object written for one task.
type Skeleton struct {
	// File is the package file the task came from.
	File string
	// Task is the task's name (template.id.name).
	Task string
	// Object is the skeletal object.
	Object map[string]any
}

// Result is what Build made of a package.
type Result struct {
	Skeletons []Skeleton
	Skipped   []Skipped
}

// pbIndex is flytectl's reading of pyflyte's file names: NAME_1.pb is a
// task, _2.pb a workflow, _3.pb a launch plan.
var pbIndex = regexp.MustCompile(`_([1-3])\.pb$`)

// Build writes one skeleton per task of files whose type a plugin of reg
// handles. Workflows, launch plans, source archives and tasks of other types
// are skipped with the reason. An error names the file and the field.
func Build(files []File, reg *plugins.Registry, o Options) (*Result, error) {
	if o.Namespace == "" && o.Project != "" && o.Domain != "" {
		o.Namespace = o.Project + "-" + o.Domain
	}
	if o.Namespace == "" {
		return nil, fmt.Errorf("the namespace is unknown: pass --namespace, or --project and --domain")
	}
	wanted := map[string]bool{}
	for _, t := range o.Tasks {
		wanted[t] = false
	}
	res := &Result{}
	names := map[string]string{} // object name → task
	for _, f := range files {
		base := path.Base(f.Name)
		if m := pbIndex.FindStringSubmatch(base); m != nil && m[1] != "1" {
			res.Skipped = append(res.Skipped, Skipped{f.Name, map[string]string{"2": "a workflow", "3": "a launch plan"}[m[1]]})
			continue
		}
		if !strings.HasSuffix(base, ".pb") {
			reason := "not a serialized file (.pb)"
			if strings.HasPrefix(base, "fast") && strings.HasSuffix(base, ".tar.gz") {
				reason = "the source archive of fast registration: upload it and pass --remote-package-path"
			}
			res.Skipped = append(res.Skipped, Skipped{f.Name, reason})
			continue
		}
		spec := &admin.TaskSpec{}
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(f.Data, spec); err != nil {
			return nil, fmt.Errorf("%s: decode admin.TaskSpec: %w", f.Name, err)
		}
		tt := spec.GetTemplate()
		if tt.GetType() == "" {
			res.Skipped = append(res.Skipped, Skipped{f.Name, "not a task (no template.type)"})
			continue
		}
		if len(wanted) > 0 {
			if _, ok := wanted[tt.GetId().GetName()]; !ok {
				continue
			}
			wanted[tt.GetId().GetName()] = true
		}
		p, ok := reg.ForTaskType(tt.GetType())
		if !ok {
			res.Skipped = append(res.Skipped, Skipped{f.Name, fmt.Sprintf("task %s is of type %q, which no plugin handles (%s)",
				tt.GetId().GetName(), tt.GetType(), strings.Join(reg.TaskTypes(), ", "))})
			continue
		}
		if err := hydrate(tt, &o); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		name := o.Name
		if name == "" {
			name = objectName(tt.GetId().GetName(), names)
		}
		names[name] = tt.GetId().GetName()
		obj, err := object(p, tt, name, &o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		res.Skeletons = append(res.Skeletons, Skeleton{File: f.Name, Task: tt.GetId().GetName(), Object: obj})
	}
	for _, t := range o.Tasks {
		if !wanted[t] {
			return nil, fmt.Errorf("--task %s: no task of that name in the package", t)
		}
	}
	if o.Name != "" && len(res.Skeletons) > 1 {
		return nil, fmt.Errorf("--name %s: %d skeletons would share it (select one with --task)", o.Name, len(res.Skeletons))
	}
	return res, nil
}

// object is the skeleton of tt as an object of p's kind.
func object(p plugins.Plugin, tt *core.TaskTemplate, name string, o *Options) (map[string]any, error) {
	tmpl, err := EncodeTemplate(tt, o.Binary)
	if err != nil {
		return nil, err
	}
	annotations := map[string]any{task.TemplateAnnotation: tmpl}
	plain := map[string]string{task.TemplateAnnotation: tmpl}
	if e := strings.TrimSpace(o.Execution); e != "" {
		annotations[task.ExecutionAnnotation] = e
		plain[task.ExecutionAnnotation] = e
	}
	// What the webhook will decode must decode: within the annotation
	// limits, and with an execution context that fits the object.
	if _, err := task.New(name, o.Namespace, plain); err != nil {
		return nil, err
	}
	gvk := p.Kind()
	return map[string]any{
		"apiVersion": gvk.GroupVersion().String(),
		"kind":       gvk.Kind,
		"metadata": map[string]any{
			"name":        name,
			"namespace":   o.Namespace,
			"annotations": annotations,
		},
		"spec": map[string]any{},
	}, nil
}

// EncodeTemplate is the annotation value of tt: protobuf JSON as protojson
// writes it (camelCase names), compacted so that the bytes do not depend on
// protojson's per-build spacing, or the base64 binary form.
func EncodeTemplate(tt *core.TaskTemplate, binary bool) (string, error) {
	var s string
	if binary {
		var err error
		if s, err = task.EncodeBinaryTemplate(tt); err != nil {
			return "", err
		}
	} else {
		data, err := protojson.Marshal(tt)
		if err != nil {
			return "", fmt.Errorf("encode task template: %w", err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			return "", fmt.Errorf("encode task template: %w", err)
		}
		s = buf.String()
	}
	if len(s) > task.MaxAnnotationBytes {
		hint := ""
		if !binary {
			hint = " (the binary form, --template-encoding base64, is smaller)"
		}
		return "", fmt.Errorf("the template is %d bytes, more than the %d an annotation may carry%s", len(s), task.MaxAnnotationBytes, hint)
	}
	return s, nil
}

// maxNameLength keeps names within every operator's limit (KubeRay: 47).
const maxNameLength = 47

// objectName names a task's object: the last part of the task name as a
// DNS-1035 label ("flytekit_cases.spark_tasks.hello_spark" is
// "hello-spark"), or, when another task took that, the whole name with a
// hash of it.
func objectName(taskName string, taken map[string]string) string {
	short := taskName[strings.LastIndexByte(taskName, '.')+1:]
	if n := label(short, maxNameLength); n != "" {
		if other, ok := taken[n]; !ok || other == taskName {
			return n
		}
	}
	sum := sha256.Sum256([]byte(taskName))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	base := label(taskName, maxNameLength-len(suffix))
	if base == "" {
		base = "task"
	}
	return base + suffix
}

// label is s as a DNS-1035 label of at most n characters: lower case,
// runs of anything but letters and digits as one "-", starting with a
// letter, ending with a letter or digit; "" if nothing is left.
func label(s string, n int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9' && b.Len() > 0:
			if dash {
				b.WriteByte('-')
				dash = false
			}
			b.WriteRune(r)
		case b.Len() > 0:
			dash = true
		}
	}
	out := b.String()
	if len(out) > n {
		out = out[:n]
	}
	return strings.TrimRight(out, "-")
}
