package expand_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var fixedNow = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func newExpander(t testing.TB, configPath string) *expand.Expander {
	t.Helper()
	cfg, err := config.Load(configPath)
	require.NoError(t, err)
	return &expand.Expander{Registry: builtin.Registry(), Env: plugins.Env{Config: cfg, Templates: objects.PodTemplates{}, Now: fixedNow}}
}

func readObjects(t testing.TB, path string) []objects.Object {
	t.Helper()
	objs, err := objects.ReadPath(path)
	require.NoError(t, err)
	return objs
}

// TestGolden expands every example with the example platform config and
// compares with testdata/golden (go test ./expand -update rewrites them).
func TestGolden(t *testing.T) {
	x := newExpander(t, "../examples/config/plugins.yaml")
	files, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 9)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out []byte
			for _, o := range readObjects(t, f) {
				res, err := x.Expand(context.Background(), o.Map, nil)
				require.NoError(t, err)
				data, err := yaml.Marshal(res.Object())
				require.NoError(t, err)
				out = append(out, data...)
			}
			golden := filepath.Join("testdata", "golden", filepath.Base(f))
			if *update {
				require.NoError(t, os.WriteFile(golden, out, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./expand -update to create it")
			require.Equal(t, string(want), string(out))
		})
	}
}

// TestIdempotentAndPatch checks that the patch turns the input into the
// expanded object and that expanding that object again changes nothing.
func TestIdempotentAndPatch(t *testing.T) {
	x := newExpander(t, "../examples/config/plugins.yaml")
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range files {
		for _, o := range readObjects(t, f) {
			t.Run(o.Describe(), func(t *testing.T) {
				in, err := json.Marshal(o.Map)
				require.NoError(t, err)
				res, err := x.Expand(context.Background(), o.Map, nil)
				require.NoError(t, err)
				if res.Plugin == nil {
					require.Empty(t, res.Patch, "foreign objects pass through")
					return
				}
				require.NotEmpty(t, res.Patch)
				patch, err := res.PatchJSON()
				require.NoError(t, err)
				ops, err := expand.MarshalPatch(res.Patch)
				require.NoError(t, err)
				require.Equal(t, string(ops), string(patch), "the patch as written around the spec is the patch of its operations")
				p, err := jsonpatch.DecodePatch(patch)
				require.NoError(t, err)
				patched, err := p.Apply(in)
				require.NoError(t, err)
				want, err := json.Marshal(res.Object())
				require.NoError(t, err)
				require.JSONEq(t, string(want), string(patched))

				again, err := expand.DecodeObject(patched)
				require.NoError(t, err)
				res2, err := x.Expand(context.Background(), again, nil)
				require.NoError(t, err)
				require.Empty(t, res2.Patch)
				require.Equal(t, "already expanded", res2.Skipped)
			})
		}
	}
}

const sparkSkeleton = `{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication",
 "metadata":{"name":"job-n0-0","namespace":"p-d","labels":{"team":"ml"},"annotations":{
  "flyte.org/task-template":"{\"id\":{\"project\":\"p\",\"domain\":\"d\",\"name\":\"t\",\"version\":\"v1\"},\"type\":\"spark\",\"container\":{\"image\":\"img:1\",\"args\":[\"run\"]},\"custom\":{\"mainApplicationFile\":\"local:///app.py\",\"sparkConf\":{\"spark.executor.instances\":\"2\"}}}"}},
 "spec":{"sparkVersion":"3.5.1","driver":{"coreLimit":"1200m"}}}`

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := expand.DecodeObject([]byte(s))
	require.NoError(t, err)
	return m
}

func path(m map[string]any, keys ...string) any {
	var v any = expand.Plain(m)
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func TestUserFieldsWin(t *testing.T) {
	x := newExpander(t, "")
	res, err := x.Expand(context.Background(), decode(t, sparkSkeleton), nil)
	require.NoError(t, err)
	require.Equal(t, "3.5.1", path(res.Object(), "spec", "sparkVersion"))
	require.Equal(t, "1200m", path(res.Object(), "spec", "driver", "coreLimit"), "the user's driver field is kept")
	require.Equal(t, "img:1", path(res.Object(), "spec", "driver", "image"), "generated driver fields are added beside it")
	require.Equal(t, "ml", path(res.Object(), "metadata", "labels", "team"))
	require.Equal(t, "false", path(res.Object(), "metadata", "annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict"))
	require.True(t, strings.HasPrefix(path(res.Object(), "metadata", "annotations", task.ExpandedFromAnnotation).(string), "sha256:"))
}

func TestUpdate(t *testing.T) {
	x := newExpander(t, "")
	first, err := x.Expand(context.Background(), decode(t, sparkSkeleton), nil)
	require.NoError(t, err)
	stored := first.Object()

	t.Run("metadata-only update is left alone", func(t *testing.T) {
		next := deepCopy(t, stored)
		next["metadata"].(map[string]any)["labels"].(map[string]any)["flyte.org/phase"] = "Running"
		res, err := x.Expand(context.Background(), next, stored)
		require.NoError(t, err)
		require.Empty(t, res.Patch)
	})
	t.Run("changed template re-expands and keeps the user's fields", func(t *testing.T) {
		next := deepCopy(t, stored)
		ann := next["metadata"].(map[string]any)["annotations"].(map[string]any)
		ann[task.TemplateAnnotation] = strings.Replace(ann[task.TemplateAnnotation].(string), "img:1", "img:2", 1)
		res, err := x.Expand(context.Background(), next, stored)
		require.NoError(t, err)
		require.NotEmpty(t, res.Patch)
		require.Equal(t, "img:2", path(res.Object(), "spec", "image"))
		require.Equal(t, "img:2", path(res.Object(), "spec", "driver", "image"))
		require.Equal(t, "3.5.1", path(res.Object(), "spec", "sparkVersion"))
		require.Equal(t, "1200m", path(res.Object(), "spec", "driver", "coreLimit"))
	})
	t.Run("a stored skeleton that was never expanded is expanded on update", func(t *testing.T) {
		skel := decode(t, sparkSkeleton)
		res, err := x.Expand(context.Background(), deepCopy(t, skel), skel)
		require.NoError(t, err)
		require.NotEmpty(t, res.Patch)
	})
}

func deepCopy(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(m)
	require.NoError(t, err)
	return decode(t, string(data))
}

func TestPassThrough(t *testing.T) {
	x := newExpander(t, "")
	for name, obj := range map[string]string{
		"foreign kind":       `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`,
		"no task annotation": `{"apiVersion":"ray.io/v1","kind":"RayJob","metadata":{"name":"a","namespace":"b"},"spec":{"entrypoint":"python x.py"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := x.Expand(context.Background(), decode(t, obj), nil)
			require.NoError(t, err)
			require.Empty(t, res.Patch)
			require.NotEmpty(t, res.Skipped)
		})
	}
}

// TestErrors feeds broken skeletons and checks the error names the field.
func TestErrors(t *testing.T) {
	x := newExpander(t, "")
	obj := func(kind, apiVersion, template, execution string) string {
		ann := map[string]string{task.TemplateAnnotation: template}
		if execution != "" {
			ann[task.ExecutionAnnotation] = execution
		}
		m := map[string]any{"apiVersion": apiVersion, "kind": kind,
			"metadata": map[string]any{"name": "job-n0-0", "namespace": "p-d", "annotations": ann}}
		data, _ := json.Marshal(m)
		return string(data)
	}
	const spark, sparkAV = "SparkApplication", "sparkoperator.k8s.io/v1beta2"
	const ray, rayAV = "RayJob", "ray.io/v1"
	const dask, daskAV = "DaskJob", "kubernetes.dask.org/v1"
	sparkTT := func(extra string) string {
		return `{"type":"spark","container":{"image":"i"` + extra + `},"custom":{"mainClass":"M"}}`
	}
	cases := []struct {
		name, obj, field, msg string
	}{
		{"invalid JSON template", obj(spark, sparkAV, `{"type":`, ""), "metadata.annotations[flyte.org/task-template]", "decode task template"},
		{"template is a list", obj(spark, sparkAV, `- a`, ""), "metadata.annotations[flyte.org/task-template]", "expected an object"},
		{"missing type", obj(spark, sparkAV, `{"container":{"image":"i"}}`, ""), "metadata.annotations[flyte.org/task-template].type", "required"},
		{"unknown task type", obj(spark, sparkAV, `{"type":"hive","container":{"image":"i"}}`, ""), ".type", `unknown task type "hive"`},
		{"kind mismatch", obj(ray, rayAV, sparkTT(""), ""), ".type", "expands into a SparkApplication, not a RayJob"},
		{"no target", obj(spark, sparkAV, `{"type":"spark","custom":{"mainClass":"M"}}`, ""), "task-template]", "unable to determine Pod configuration"},
		{"spark without main", obj(spark, sparkAV, `{"type":"spark","container":{"image":"i"},"custom":{"sparkConf":{}}}`, ""), ".custom", "either MainApplicationFile or MainClass must be set"},
		{"spark without custom", obj(spark, sparkAV, `{"type":"spark","container":{"image":"i"}}`, ""), ".custom", "failed to unmarshal"},
		{"bad quantity", obj(spark, sparkAV, sparkTT(`,"resources":{"limits":[{"name":"CPU","value":"lots"}]}`), ""), ".container.resources.limits[0].value", "valid quantity"},
		{"negative quantity", obj(spark, sparkAV, sparkTT(`,"resources":{"requests":[{"name":"MEMORY","value":"-1Gi"}]}`), ""), ".container.resources.requests[0].value", "negative"},
		{"ray without cluster", obj(ray, rayAV, `{"type":"ray","container":{"image":"i"},"custom":{}}`, ""), ".custom.rayCluster", "required"},
		{"ray bad base64 runtime env", obj(ray, rayAV, `{"type":"ray","container":{"image":"i"},"custom":{"rayCluster":{},"runtimeEnv":"%%%"}}`, ""), ".custom.runtimeEnv", "base64"},
		{"k8s pod without primary", obj(dask, daskAV, `{"type":"dask","k8sPod":{"podSpec":{"containers":[{"name":"c","image":"i"}]}},"custom":{}}`, ""), ".config", "primary_container_name"},
		{"k8s pod primary missing", obj(dask, daskAV, `{"type":"dask","config":{"primary_container_name":"main"},"k8sPod":{"podSpec":{"containers":[{"name":"c","image":"i"}]}},"custom":{}}`, ""), "task-template]", "primary container [main] not defined"},
		{"pod template missing", obj(dask, daskAV, `{"type":"dask","metadata":{"podTemplateName":"gone"},"container":{"image":"i"},"custom":{}}`, ""), ".metadata.podTemplateName", "PodTemplate 'gone' does not exist"},
		{"execution namespace differs", obj(dask, daskAV, `{"type":"dask","container":{"image":"i"},"custom":{}}`, `{"namespace":"other"}`), "flyte.org/execution].namespace", "differs"},
		{"execution unknown field", obj(dask, daskAV, `{"type":"dask","container":{"image":"i"},"custom":{}}`, `{"projekt":"p"}`), "flyte.org/execution]", `unknown field "projekt"`},
		{"huge annotation", obj(dask, daskAV, `{"type":"dask","container":{"image":"`+strings.Repeat("x", 300<<10)+`"}}`, ""), "task-template]", "more than"},
		{"spark main class without main application file", obj(spark, sparkAV, sparkTT(""), ""), ".custom.mainApplicationFile", "primary resource"},
		{"spark name the operator refuses", strings.Replace(obj(spark, sparkAV, `{"type":"spark","container":{"image":"i"},"custom":{"mainApplicationFile":"local:///a.py"}}`, ""), "job-n0-0", "job.n0.0", 1), "metadata.name", "DNS-1035"},
		{"ray name KubeRay refuses", strings.Replace(obj(ray, rayAV, `{"type":"ray","container":{"image":"i"},"custom":{"rayCluster":{}}}`, ""), "job-n0-0", "job-n0-0-"+strings.Repeat("x", 60), 1), "metadata.name", "no more than"},
		{"shared memory without name", obj(spark, sparkAV, `{"type":"spark","container":{"image":"i"},"extendedResources":{"sharedMemory":{"mountPath":"/dev/shm"}},"custom":{"mainClass":"M"}}`, ""), ".extendedResources.sharedMemory.mountName", "mount name is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := x.Expand(context.Background(), decode(t, c.obj), nil)
			require.Error(t, err)
			var e *expand.Error
			require.ErrorAs(t, err, &e)
			require.Contains(t, e.Field, c.field)
			require.Contains(t, e.Message, c.msg)
		})
	}
}

// TestCRDDefaultsAreNotUserFields: the apiserver defaults a RayJob's
// ttlSecondsAfterFinished to 0 before admission; the task's 300 must win.
func TestCRDDefaultsAreNotUserFields(t *testing.T) {
	x := newExpander(t, "")
	obj := readObjects(t, "../examples/ray-autoscaling.yaml")[0].Map
	obj["spec"] = map[string]any{"ttlSecondsAfterFinished": json.Number("0"), "backoffLimit": json.Number("0"), "submissionMode": "K8sJobMode"}
	res, err := x.Expand(context.Background(), obj, nil)
	require.NoError(t, err)
	require.Equal(t, json.Number("300"), path(res.Object(), "spec", "ttlSecondsAfterFinished"))
	require.Equal(t, "K8sJobMode", path(res.Object(), "spec", "submissionMode"), "defaults we do not generate stay")

	obj["spec"] = map[string]any{"ttlSecondsAfterFinished": json.Number("60")}
	res, err = x.Expand(context.Background(), obj, nil)
	require.NoError(t, err)
	require.Equal(t, json.Number("60"), path(res.Object(), "spec", "ttlSecondsAfterFinished"), "a value the user wrote wins")
}

// TestCachedTemplatesStayUnchanged expands each benchmark input (large pod
// templates and overlays) several times through the template cache: decoded
// parts shared between expansions must never be changed by one of them.
func TestCachedTemplatesStayUnchanged(t *testing.T) {
	for _, in := range benchInputs(t) {
		t.Run(in.Name, func(t *testing.T) {
			first, err := in.x.ExpandRaw(context.Background(), in.raw, nil)
			require.NoError(t, err)
			want, err := expand.MarshalPatch(first.Patch)
			require.NoError(t, err)
			for i := 0; i < 3; i++ {
				res, err := in.x.ExpandRaw(context.Background(), in.raw, nil)
				require.NoError(t, err)
				got, err := expand.MarshalPatch(res.Patch)
				require.NoError(t, err)
				require.JSONEq(t, string(want), string(got), "expansion %d differs from the first", i+2)
			}
		})
	}
}

// TestExpandRawEitherOrder checks that the order ExpandRaw decodes in (a
// byte search for the annotation keys) never changes the outcome: the same
// skeleton with its keys written with JSON escapes (so the search misses
// them) expands to the same patch.
func TestExpandRawEitherOrder(t *testing.T) {
	x := newExpander(t, "")
	objs := readObjects(t, filepath.Join(conformance, "spark/basic/skeleton.yaml"))
	raw, err := json.Marshal(objs[0].Map)
	require.NoError(t, err)
	escaped := bytes.ReplaceAll(raw, []byte(`"flyte.org/`), []byte(`"flyte.org\/`))
	require.NotEqual(t, raw, escaped)
	var patches [][]byte
	for _, in := range [][]byte{raw, escaped} {
		res, err := x.ExpandRaw(context.Background(), in, nil)
		require.NoError(t, err)
		require.Empty(t, res.Skipped)
		p, err := expand.MarshalPatch(res.Patch)
		require.NoError(t, err)
		patches = append(patches, p)
	}
	require.JSONEq(t, string(patches[0]), string(patches[1]))

	// Expanded, with the escaped marker: still recognised as expanded.
	res, err := x.ExpandRaw(context.Background(), raw, nil)
	require.NoError(t, err)
	out, err := json.Marshal(res.Object())
	require.NoError(t, err)
	again, err := x.ExpandRaw(context.Background(), bytes.ReplaceAll(out, []byte(`"flyte.org/`), []byte(`"flyte.org\/`)), nil)
	require.NoError(t, err)
	require.Equal(t, "already expanded", again.Skipped)
}

// TestProvenance pins the marker's definition, which stored objects carry: the
// SHA-256 of template, execution and config generation joined by NUL bytes.
func TestProvenance(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 100) // spans several internal buffers
	for _, c := range []struct{ tmpl, exec, gen string }{
		{"", "", ""},
		{"t", "e", "g"},
		{long, "", "7"},
		{long[:511], long[:513], long[:512]},
	} {
		sum := sha256.Sum256([]byte(c.tmpl + "\x00" + c.exec + "\x00" + c.gen))
		require.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), expand.Provenance(c.tmpl, c.exec, c.gen))
	}
}

// TestDiff checks that the patch Diff computes, applied by an RFC 6902
// implementation, turns a into b: removals, additions, replacements, nested
// maps, and keys that need escaping in a JSON pointer.
func TestDiff(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b string
		ops  int
	}{
		{"equal", `{"a":1,"m":{"x":"y"}}`, `{"a":1,"m":{"x":"y"}}`, 0},
		{"add", `{}`, `{"a":{"b":[1,2]}}`, 1},
		{"remove", `{"a":1,"b":2,"c":3}`, `{"b":2}`, 2},
		{"replace", `{"a":1,"l":[1]}`, `{"a":"1","l":[1,2]}`, 2},
		{"nested", `{"m":{"k":{"x":1,"gone":true}}}`, `{"m":{"k":{"x":2,"new":null}}}`, 3},
		{"escaped keys", `{"metadata":{"annotations":{"a/b":"1","c~d":"2"}}}`, `{"metadata":{"annotations":{"a/b":"3","e~/f":"4"}}}`, 3},
		{"map becomes scalar", `{"m":{"x":1}}`, `{"m":"x"}`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := expand.DecodeObject([]byte(c.a))
			require.NoError(t, err)
			b, err := expand.DecodeObject([]byte(c.b))
			require.NoError(t, err)
			ops := expand.Diff(a, b)
			require.Len(t, ops, c.ops)
			data, err := expand.MarshalPatch(ops)
			require.NoError(t, err)
			p, err := jsonpatch.DecodePatch(data)
			require.NoError(t, err)
			got, err := p.Apply([]byte(c.a))
			require.NoError(t, err)
			require.JSONEq(t, c.b, string(got), "patch %s", data)
		})
	}
}

// TestConcurrentExpansionsAreIndependent: expansions running at once, each
// recycling its patch buffer and its plugin's object as the webhook does,
// write exactly the patches they write alone.
func TestConcurrentExpansionsAreIndependent(t *testing.T) {
	inputs := benchInputs(t)
	want := make([]string, len(inputs))
	for i, in := range inputs {
		res, err := in.x.ExpandRaw(context.Background(), in.raw, nil)
		require.NoError(t, err)
		p, err := res.PatchJSON()
		require.NoError(t, err)
		want[i] = string(p) // a copy: the buffer is recycled below
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 60 {
				i := (g + n) % len(inputs)
				res, err := inputs[i].x.ExpandRaw(context.Background(), inputs[i].raw, nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				p, err := res.PatchJSON()
				if err != nil || string(p) != want[i] {
					errs <- fmt.Sprintf("%s: the patch differs from the one written alone (%v)", inputs[i].Name, err)
					return
				}
				expand.RecyclePatch(p)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
