package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// pyflytePackage is what `pyflyte package` wrote for the tasks of the
// flytekit conformance cases (testdata/pyflyte/README.md).
const pyflytePackage = "testdata/pyflyte/flytekit-cases.tgz"

// skeletons runs `skeleton` and returns the objects it wrote.
func skeletons(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out, stderr, code := run(t, append([]string{"skeleton", "-o", "json"}, args...)...)
	require.Equal(t, 0, code, stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	items, ok := got["items"].([]any)
	if !ok {
		return []map[string]any{got}
	}
	objs := make([]map[string]any, len(items))
	for i, it := range items {
		objs[i] = it.(map[string]any)
	}
	return objs
}

func annotationsOf(obj map[string]any) map[string]any {
	return child(obj, "metadata", "annotations")
}

func TestSkeletonPackage(t *testing.T) {
	objs := skeletons(t, "-f", pyflytePackage, "-p", "flytesnacks", "-d", "development")
	kinds := map[string]int{}
	names := map[string]bool{}
	for _, o := range objs {
		kinds[o["apiVersion"].(string)+" "+o["kind"].(string)]++
		meta := child(o, "metadata")
		require.Equal(t, "flytesnacks-development", meta["namespace"])
		require.False(t, names[meta["name"].(string)], "names are unique: %s", meta["name"])
		names[meta["name"].(string)] = true
		require.Equal(t, map[string]any{}, o["spec"])
		tt, err := task.DecodeTemplate(annotationsOf(o)[task.TemplateAnnotation].(string))
		require.NoError(t, err)
		require.Equal(t, "flytesnacks", tt.GetId().GetProject())
		require.Equal(t, "development", tt.GetId().GetDomain())
		require.Equal(t, "v1", tt.GetId().GetVersion(), "flytectl's default version")
		require.NotContains(t, annotationsOf(o), task.ExecutionAnnotation, "the execution context is optional")
	}
	require.Len(t, objs, 34)
	require.Equal(t, map[string]int{
		"sparkoperator.k8s.io/v1beta2 SparkApplication": 13,
		"ray.io/v1 RayJob":               11,
		"kubernetes.dask.org/v1 DaskJob": 10,
	}, kinds)
	require.True(t, names["hello-spark"] && names["ray-hello"] && names["dask-hello"], "named after their tasks: %v", names)
}

// TestSkeletonExpandsAll expands the skeleton of every task of the package,
// in both annotation forms: each expands, and validates clean, but the two
// Flyte refuses too (its own conformance output is an error for them), and
// the named PodTemplates come from the conformance cases.
func TestSkeletonExpandsAll(t *testing.T) {
	podTemplates := ""
	for _, c := range []string{"dask/dask_named_pod_template", "spark/named_pod_template_spark"} {
		objs, err := objects.ReadPath(filepath.Join("testdata/conformance-flytekit", c, "skeleton.yaml"))
		require.NoError(t, err)
		for _, o := range objs[1:] {
			data, err := yaml.Marshal(o.Map)
			require.NoError(t, err)
			podTemplates += "---\n" + string(data)
		}
	}
	refused := map[string]string{
		"pod-templated-spark": "container [primary] not defined",
		"executor-only-pod":   "container [primary] not defined",
	}
	specs := map[string]map[string]any{} // encoding → name → normalized spec
	for _, encoding := range []string{"json", "base64"} {
		t.Run(encoding, func(t *testing.T) {
			objs := skeletons(t, "-f", pyflytePackage, "-p", "flytesnacks", "-d", "development", "--template-encoding", encoding)
			require.Len(t, objs, 34)
			specs[encoding] = map[string]any{}
			for _, o := range objs {
				name := child(o, "metadata")["name"].(string)
				tmpl := annotationsOf(o)[task.TemplateAnnotation].(string)
				require.Equal(t, encoding == "base64", strings.HasPrefix(tmpl, task.BinaryTemplatePrefix), name)
				file := filepath.Join(t.TempDir(), name+".yaml")
				data, err := yaml.Marshal(o)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(file, append(data, podTemplates...), 0o600))
				out, stderr, code := run(t, "expand", "-f", file, "-o", "json")
				if msg, ok := refused[name]; ok {
					require.NotEqual(t, 0, code, name)
					require.Contains(t, stderr, msg)
					continue
				}
				require.Equal(t, 0, code, "%s: %s", name, stderr)
				expanded := filepath.Join(t.TempDir(), "expanded.yaml")
				require.NoError(t, os.WriteFile(expanded, []byte(out), 0o600))
				vout, stderr, code := run(t, "validate", "-f", expanded)
				require.Equal(t, 0, code, "%s: %s%s", name, vout, stderr)
				var got map[string]any
				require.NoError(t, json.Unmarshal([]byte(out), &got))
				specs[encoding][name] = normalize(expandedObject(t, got)["spec"])
			}
		})
	}
	require.Len(t, specs["json"], 32)
	require.Equal(t, specs["json"], specs["base64"], "both annotation forms expand to the same objects")
}

// TestSkeletonConformanceFlytekit writes the skeleton of each flytekit
// conformance case's task from the package, with the case's version, name,
// namespace and execution context, and expands it (with the case's config
// and PodTemplates) into the case's expected output, in both annotation
// forms. The cases were serialized by `pyflyte register` with fast
// registration and the package by `pyflyte package` without: the test first
// proves that the tasks differ by that prefix of the arguments alone, and
// removes it from the expected output.
func TestSkeletonConformanceFlytekit(t *testing.T) {
	root := "testdata/conformance-flytekit"
	dirs, err := filepath.Glob(filepath.Join(root, "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	matched := 0
	for _, dir := range dirs {
		objs, err := objects.ReadPath(filepath.Join(dir, "skeleton.yaml"))
		require.NoError(t, err)
		meta := child(objs[0].Map, "metadata")
		ann := annotationsOf(objs[0].Map)
		caseTemplate, err := task.DecodeTemplate(ann[task.TemplateAnnotation].(string))
		require.NoError(t, err)
		fast := stripFastArgs(caseTemplate.GetContainer().GetArgs())
		caseTemplate.GetContainer().Args = fast
		matched++
		for _, encoding := range []string{"json", "base64"} {
			t.Run(strings.TrimPrefix(dir, root+"/")+"/"+encoding, func(t *testing.T) {
				got := skeletons(t, "-f", pyflytePackage, "--task", caseTemplate.GetId().GetName(),
					"-p", "flytesnacks", "-d", "development", "--version", caseTemplate.GetId().GetVersion(),
					"--name", meta["name"].(string), "-n", meta["namespace"].(string),
					"--execution", ann[task.ExecutionAnnotation].(string), "--template-encoding", encoding)
				require.Len(t, got, 1)
				tt, err := task.DecodeTemplate(annotationsOf(got[0])[task.TemplateAnnotation].(string))
				require.NoError(t, err)
				require.True(t, proto.Equal(caseTemplate, tt), "the package's task is the case's but for the fast-registration arguments")
				require.Equal(t, ann[task.ExecutionAnnotation], annotationsOf(got[0])[task.ExecutionAnnotation])

				// The skeleton, then the PodTemplates the case's task names.
				data, err := yaml.Marshal(got[0])
				require.NoError(t, err)
				for _, o := range objs[1:] {
					more, err := yaml.Marshal(o.Map)
					require.NoError(t, err)
					data = append(append(data, "---\n"...), more...)
				}
				file := filepath.Join(t.TempDir(), "skeleton.yaml")
				require.NoError(t, os.WriteFile(file, data, 0o600))

				var expected map[string]any
				raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal(raw, &expected))
				stripFastExpected(expected)
				var args []string
				if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
					args = append(args, "--config", filepath.Join(dir, "config.yaml"))
				}
				expectExpansion(t, dir, file, expected, args)
			})
		}
	}
	require.Equal(t, 20, matched, "every case's task is in the package")
}

// stripFastArgs removes fast registration's `pyflyte-fast-execute ... --`
// from the front of a task's arguments.
func stripFastArgs(args []string) []string {
	if len(args) == 0 || args[0] != "pyflyte-fast-execute" {
		return args
	}
	for i, a := range args {
		if a == "--" {
			return args[i+1:]
		}
	}
	return args
}

// stripFastExpected removes the fast-registration prefix wherever an
// expected output holds the task's arguments: as a list (Spark arguments,
// the Dask job and Ray submitter containers) or joined (Ray's entrypoint).
func stripFastExpected(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && strings.HasPrefix(s, "pyflyte-fast-execute ") {
				if _, rest, ok := strings.Cut(s, " -- "); ok {
					v[k] = rest
				}
				continue
			}
			if l, ok := x.([]any); ok && len(l) > 0 && l[0] == "pyflyte-fast-execute" {
				for i, a := range l {
					if a == "--" {
						v[k] = l[i+1:]
						break
					}
				}
				continue
			}
			stripFastExpected(x)
		}
	case []any:
		for _, x := range v {
			stripFastExpected(x)
		}
	}
}
