package skeleton

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/admin"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// specFile is a serialized TaskSpec of tt named name.
func specFile(t *testing.T, name string, tt *core.TaskTemplate) File {
	t.Helper()
	data, err := proto.Marshal(&admin.TaskSpec{Template: tt})
	require.NoError(t, err)
	return File{Name: name, Data: data}
}

func sparkTask(name string, args ...string) *core.TaskTemplate {
	return &core.TaskTemplate{
		Id:     &core.Identifier{ResourceType: core.ResourceType_TASK, Name: name},
		Type:   "spark",
		Target: &core.TaskTemplate_Container{Container: &core.Container{Image: "img:1", Args: args}},
		Custom: &structpb.Struct{Fields: map[string]*structpb.Value{"mainApplicationFile": structpb.NewStringValue("local:///app.py")}},
	}
}

// templateOf decodes the template annotation of a built object.
func templateOf(t *testing.T, obj map[string]any) *core.TaskTemplate {
	t.Helper()
	ann := obj["metadata"].(map[string]any)["annotations"].(map[string]any)
	tt, err := task.DecodeTemplate(ann[task.TemplateAnnotation].(string))
	require.NoError(t, err)
	return tt
}

func TestHydrate(t *testing.T) {
	base := Options{Project: "p", Domain: "d", Version: "v7", Images: map[string]string{"default": "reg:5000/app:2.1", "spark": "spark-img"}}
	cases := []struct {
		name    string
		opts    func(*Options)
		tt      *core.TaskTemplate
		check   func(*testing.T, *core.TaskTemplate)
		wantErr string
	}{
		{name: "empty identifier fields filled", tt: sparkTask("m.t"), check: func(t *testing.T, tt *core.TaskTemplate) {
			require.Equal(t, []string{"p", "d", "m.t", "v7"}, []string{tt.Id.Project, tt.Id.Domain, tt.Id.Name, tt.Id.Version})
		}},
		{name: "registration placeholders filled", tt: func() *core.TaskTemplate {
			tt := sparkTask("m.t")
			tt.Id.Project, tt.Id.Domain, tt.Id.Version = projectPlaceholder, domainPlaceholder, versionPlaceholder
			return tt
		}(), check: func(t *testing.T, tt *core.TaskTemplate) {
			require.Equal(t, []string{"p", "d", "v7"}, []string{tt.Id.Project, tt.Id.Domain, tt.Id.Version})
		}},
		{name: "values already set are kept", tt: func() *core.TaskTemplate {
			tt := sparkTask("m.t")
			tt.Id.Project, tt.Id.Domain, tt.Id.Version = "q", "e", "v1"
			return tt
		}(), check: func(t *testing.T, tt *core.TaskTemplate) {
			require.Equal(t, []string{"q", "e", "v1"}, []string{tt.Id.Project, tt.Id.Domain, tt.Id.Version})
		}},
		{name: "force replaces the version", opts: func(o *Options) { o.Force = true }, tt: func() *core.TaskTemplate {
			tt := sparkTask("m.t")
			tt.Id.Version = "v1"
			return tt
		}(), check: func(t *testing.T, tt *core.TaskTemplate) { require.Equal(t, "v7", tt.Id.Version) }},
		{name: "no project anywhere", opts: func(o *Options) { o.Project = "" }, tt: sparkTask("m.t"), wantErr: "template.id.project is empty: pass --project"},
		{name: "fast registration arguments", opts: func(o *Options) { o.RemotePackagePath = "s3://b/fast.tar.gz" },
			tt: sparkTask("m.t", "pyflyte-fast-execute", "--additional-distribution", remotePackagePlaceholder, "--dest-dir", destDirPlaceholder, "--", "pyflyte-execute"),
			check: func(t *testing.T, tt *core.TaskTemplate) {
				require.Equal(t, []string{"pyflyte-fast-execute", "--additional-distribution", "s3://b/fast.tar.gz", "--dest-dir", ".", "--", "pyflyte-execute"}, tt.GetContainer().Args)
			}},
		{name: "fast registration without the package path", tt: sparkTask("m.t", "x", remotePackagePlaceholder),
			wantErr: "template.container.args[1] is {{ .remote_package_path }} (fast registration): upload the package's fast*.tar.gz and pass --remote-package-path"},
		{name: "k8sPod arguments", opts: func(o *Options) { o.DestinationDir = "/root" }, tt: &core.TaskTemplate{Type: "spark", Target: &core.TaskTemplate_K8SPod{K8SPod: &core.K8SPod{
			PodSpec: mustStruct(t, map[string]any{"containers": []any{map[string]any{"name": "c", "args": []any{"--dest-dir", destDirPlaceholder}}}})}}},
			check: func(t *testing.T, tt *core.TaskTemplate) {
				args := tt.GetK8SPod().GetPodSpec().GetFields()["containers"].GetListValue().GetValues()[0].GetStructValue().GetFields()["args"].GetListValue().GetValues()
				require.Equal(t, "/root", args[1].GetStringValue())
			}},
		{name: "image placeholders filled anywhere", tt: func() *core.TaskTemplate {
			tt := sparkTask("m.t")
			tt.GetContainer().Image = "{{.image.default.fqn}}:{{.image.default.version}}"
			tt.Custom.Fields["driverImage"] = structpb.NewStringValue("{{ .image.spark.fqn }}:{{.image.spark.version}}")
			return tt
		}(), check: func(t *testing.T, tt *core.TaskTemplate) {
			require.Equal(t, "reg:5000/app:2.1", tt.GetContainer().Image)
			require.Equal(t, "spark-img:latest", tt.Custom.Fields["driverImage"].GetStringValue())
		}},
		{name: "image not given", tt: func() *core.TaskTemplate {
			tt := sparkTask("m.t")
			tt.GetContainer().Image = "{{.image.gpu.fqn}}:v"
			return tt
		}(), wantErr: `template.container.image: {{.image.gpu.fqn}} names image "gpu": pass --image gpu=IMAGE`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			if c.opts != nil {
				c.opts(&o)
			}
			err := hydrate(c.tt, &o)
			if c.wantErr != "" {
				require.EqualError(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			c.check(t, c.tt)
		})
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

func TestBuild(t *testing.T) {
	reg := builtin.Registry()
	files := []File{
		specFile(t, "00_m.a.hello_1.pb", sparkTask("m.a.hello")),
		specFile(t, "01_m.b.hello_1.pb", sparkTask("m.b.hello")),
		specFile(t, "02_m.c.py_task_1.pb", &core.TaskTemplate{Id: &core.Identifier{Name: "m.c.py_task"}, Type: "python-task"}),
		{Name: "03_m.wf_2.pb", Data: []byte{0x0a, 0x00}},
		{Name: "04_m.lp_3.pb", Data: []byte{0x0a, 0x00}},
		{Name: "fastabc.tar.gz", Data: []byte("x")},
	}
	res, err := Build(files, reg, Options{Project: "p", Domain: "d", Version: "v1"})
	require.NoError(t, err)
	require.Len(t, res.Skeletons, 2)
	require.Equal(t, "hello", res.Skeletons[0].Object["metadata"].(map[string]any)["name"])
	require.Regexp(t, `^m-b-hello-[0-9a-f]{8}$`, res.Skeletons[1].Object["metadata"].(map[string]any)["name"], "a name taken by another task gets the full name and a hash")
	require.Equal(t, "p-d", res.Skeletons[0].Object["metadata"].(map[string]any)["namespace"])
	require.Equal(t, "sparkoperator.k8s.io/v1beta2", res.Skeletons[0].Object["apiVersion"])
	require.Equal(t, "SparkApplication", res.Skeletons[0].Object["kind"])
	reasons := map[string]string{}
	for _, s := range res.Skipped {
		reasons[s.File] = s.Reason
	}
	require.Equal(t, map[string]string{
		"02_m.c.py_task_1.pb": `task m.c.py_task is of type "python-task", which no plugin handles (dask, ray, spark)`,
		"03_m.wf_2.pb":        "a workflow",
		"04_m.lp_3.pb":        "a launch plan",
		"fastabc.tar.gz":      "the source archive of fast registration: upload it and pass --remote-package-path",
	}, reasons)

	// Binary and JSON annotations carry the same template.
	bin, err := Build(files[:1], reg, Options{Project: "p", Domain: "d", Version: "v1", Binary: true})
	require.NoError(t, err)
	require.True(t, proto.Equal(templateOf(t, res.Skeletons[0].Object), templateOf(t, bin.Skeletons[0].Object)))
}

func TestBuildErrors(t *testing.T) {
	reg := builtin.Registry()
	two := []File{specFile(t, "a_1.pb", sparkTask("m.a")), specFile(t, "b_1.pb", sparkTask("m.b"))}
	huge := sparkTask("m.huge")
	huge.Custom.Fields["blob"] = structpb.NewStringValue(strings.Repeat("x", task.MaxAnnotationBytes))
	cases := []struct {
		name    string
		files   []File
		opts    Options
		wantErr string
	}{
		{"no namespace", two, Options{Version: "v1"}, "the namespace is unknown: pass --namespace, or --project and --domain"},
		{"not protobuf", []File{{Name: "x_1.pb", Data: []byte{0xff, 0xff}}}, Options{Namespace: "n"}, "x_1.pb: decode admin.TaskSpec"},
		{"identifier left empty", two, Options{Namespace: "n", Version: "v1"}, "a_1.pb: template.id.project is empty: pass --project"},
		{"one name for two skeletons", two, Options{Project: "p", Domain: "d", Version: "v1", Name: "x"}, "--name x: 2 skeletons would share it (select one with --task)"},
		{"unknown task", two, Options{Project: "p", Domain: "d", Version: "v1", Tasks: []string{"m.c"}}, "--task m.c: no task of that name in the package"},
		{"execution for another namespace", two[:1], Options{Project: "p", Domain: "d", Version: "v1", Execution: `{"namespace":"other"}`},
			`a_1.pb: metadata.annotations[flyte.org/execution].namespace: "other" differs from the object's namespace "p-d"`},
		{"bad execution", two[:1], Options{Project: "p", Domain: "d", Version: "v1", Execution: `{"nmae":"x"}`}, "a_1.pb: metadata.annotations[flyte.org/execution]: decode execution context"},
		{"template over the annotation limit", []File{specFile(t, "h_1.pb", huge)}, Options{Project: "p", Domain: "d", Version: "v1"}, "h_1.pb: the template is"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(c.files, reg, c.opts)
			require.ErrorContains(t, err, c.wantErr)
		})
	}
}

func TestObjectName(t *testing.T) {
	for in, want := range map[string]string{
		"flytekit_cases.spark_tasks.hello_spark": "hello-spark",
		"m.Task__Two":                            "task-two",
		"m.9lives":                               "lives",
		"m." + strings.Repeat("a", 60):           strings.Repeat("a", 47),
	} {
		require.Equal(t, want, objectName(in, map[string]string{}), in)
	}
	require.Regexp(t, `^m-[0-9a-f]{8}$`, objectName("m.___", map[string]string{}), "no label in the last part: the whole name")
	require.Regexp(t, `^task-[0-9a-f]{8}$`, objectName("9.___", map[string]string{}), "no label at all")
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	var tarball bytes.Buffer
	gz := gzip.NewWriter(&tarball)
	tw := tar.NewWriter(gz)
	for _, f := range []File{{"b_1.pb", []byte("b")}, {"a_1.pb", []byte("a")}} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o644, Size: int64(len(f.Data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(f.Data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	// gzip is recognised by its bytes, not by the name.
	pkg := filepath.Join(dir, "package.bin")
	require.NoError(t, os.WriteFile(pkg, tarball.Bytes(), 0o600))
	files, err := Read(pkg)
	require.NoError(t, err)
	require.Equal(t, []File{{"a_1.pb", []byte("a")}, {"b_1.pb", []byte("b")}}, files, "sorted by name, as flytectl registers them")

	one := filepath.Join(dir, "t_1.pb")
	require.NoError(t, os.WriteFile(one, []byte("t"), 0o600))
	files, err = Read(one)
	require.NoError(t, err)
	require.Equal(t, []File{{"t_1.pb", []byte("t")}}, files)

	big := filepath.Join(dir, "big_1.pb")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o600))
	_, err = Read(big)
	require.ErrorContains(t, err, "big_1.pb: more than 4194304 bytes")

	_, err = Read(filepath.Join(dir, "missing.tgz"))
	require.Error(t, err)
}

func TestParseImages(t *testing.T) {
	images, err := ParseImages([]string{"ghcr.io/a/b:1", "spark=ghcr.io/s:3.5"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"default": "ghcr.io/a/b:1", "spark": "ghcr.io/s:3.5"}, images)
	_, err = ParseImages([]string{"a", "b"})
	require.EqualError(t, err, `--image: image "default" given twice`)
	_, err = ParseImages([]string{"=x"})
	require.EqualError(t, err, `--image "=x": want NAME=IMAGE or IMAGE`)
}
