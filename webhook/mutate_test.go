package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/task"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// apply applies a mutating webhook's answer to the object it was asked about.
func apply(t testing.TB, obj map[string]any, resp *admissionv1.AdmissionResponse) map[string]any {
	t.Helper()
	require.True(t, resp.Allowed, "%+v", resp.Result)
	require.NotNil(t, resp.PatchType)
	require.Equal(t, admissionv1.PatchTypeJSONPatch, *resp.PatchType)
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	require.NoError(t, err)
	out, err := patch.Apply(mustJSON(t, obj))
	require.NoError(t, err, string(resp.Patch))
	m, err := objects.DecodeMap(out)
	require.NoError(t, err)
	return m
}

func mutator(cfg *config.Config, templates podspec.Templates) *Mutator {
	m := &Mutator{Registry: registry, Config: func() *config.Config { return cfg }, Now: fixedNow}
	if templates != nil {
		m.Templates = func() podspec.Templates { return templates }
	}
	return m
}

// offline is `flyte-admission expand` of obj.
func offline(t testing.TB, cfg *config.Config, templates podspec.Templates, obj map[string]any) (map[string]any, error) {
	t.Helper()
	x := expand.Expander{Registry: registry, Env: plugins.Env{Config: cfg, Templates: templates, Now: fixedNow}}
	res, err := x.Expand(context.Background(), obj, nil)
	if err != nil {
		return nil, err
	}
	return res.Object(), nil
}

// TestMutateExamples sends every example skeleton as a CREATE: the patch,
// applied to the skeleton, is the offline expansion; sending the result
// again (reinvocation) and UPDATEs that keep the template change nothing.
func TestMutateExamples(t *testing.T) {
	cfg := loadConfig(t, "../examples/config/plugins.yaml")
	files, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, file := range files {
		for _, o := range readObjects(t, file) {
			if _, ok := resources[o.Map["kind"].(string)]; !ok {
				continue
			}
			kinds[o.Map["kind"].(string)] = true
			t.Run(filepath.Base(file), func(t *testing.T) {
				m := mutator(cfg, nil)
				want, err := offline(t, cfg, nil, o.Map)
				require.NoError(t, err)

				resp := serve(t, m, review(t, admissionv1.Create, o.Map, nil, false))
				require.Equal(t, "uid-"+o.Map["metadata"].(map[string]any)["name"].(string), string(resp.UID))
				got := apply(t, o.Map, resp)
				require.JSONEq(t, string(mustJSON(t, want)), string(mustJSON(t, got)))

				dry := serve(t, m, review(t, admissionv1.Create, o.Map, nil, true))
				require.Equal(t, string(resp.Patch), string(dry.Patch), "dryRun answers the same")

				again := serve(t, m, review(t, admissionv1.Create, got, nil, false))
				require.True(t, again.Allowed)
				require.Empty(t, again.Patch, "reinvocation on the expanded object")

				upd := serve(t, m, review(t, admissionv1.Update, got, got, false))
				require.True(t, upd.Allowed)
				require.Empty(t, upd.Patch, "UPDATE with an unchanged template")

				// A label edit (kubectl apply of the same skeleton plus a label)
				// keeps the template: no patch.
				edited := deepCopy(t, got)
				edited["metadata"].(map[string]any)["labels"] = map[string]any{"edited": "yes"}
				upd = serve(t, m, review(t, admissionv1.Update, edited, got, false))
				require.Empty(t, upd.Patch, "UPDATE that does not touch the task annotations")
			})
		}
	}
	require.Len(t, kinds, 3, "examples of every kind")
}

// TestMutateConformance runs Flyte's own cases through the webhook: it
// answers exactly what the offline expansion does, a 422 where Flyte refused
// the task.
func TestMutateConformance(t *testing.T) {
	files, err := filepath.Glob("../cmd/flyte-admission/testdata/conformance/*/*/skeleton.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		dir := filepath.Dir(file)
		t.Run(strings.TrimPrefix(dir, "../cmd/flyte-admission/testdata/conformance/"), func(t *testing.T) {
			cfgPath := filepath.Join(dir, "config.yaml")
			if _, err := os.Stat(cfgPath); err != nil {
				cfgPath = ""
			}
			cfg := loadConfig(t, cfgPath)
			templates := objects.PodTemplates{}
			var subjects []objects.Object
			for _, o := range readObjects(t, file) {
				if o.Map["kind"] == "PodTemplate" {
					require.NoError(t, templates.Add(o.Map))
					continue
				}
				subjects = append(subjects, o)
			}
			for _, o := range subjects {
				want, wantErr := offline(t, cfg, templates, o.Map)
				resp := serve(t, mutator(cfg, templates), review(t, admissionv1.Create, o.Map, nil, false))
				if wantErr != nil {
					var xe *expand.Error
					require.True(t, errors.As(wantErr, &xe))
					require.False(t, resp.Allowed)
					require.EqualValues(t, http.StatusUnprocessableEntity, resp.Result.Code)
					require.Equal(t, metav1.StatusReasonInvalid, resp.Result.Reason)
					require.Equal(t, []string{xe.Field}, causes(resp))
					return
				}
				require.JSONEq(t, string(mustJSON(t, want)), string(mustJSON(t, apply(t, o.Map, resp))))
			}
		})
	}
}

const skeleton = `
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: broken
  namespace: flytesnacks-development
  annotations:
    flyte.org/task-template: |
      id: {resourceType: TASK, project: p, domain: d, name: t, version: v1}
      type: spark
      container: {image: "spark:1", args: [run]}
      custom: {sparkConf: {spark.driver.cores: "1"}}
spec: {}
`

func TestMutate(t *testing.T) {
	cfg := loadConfig(t, "")
	good := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	cases := []struct {
		name   string
		op     admissionv1.Operation
		obj    map[string]any
		old    map[string]any
		denied []string // fields named by a 422
		msg    string
		patch  bool
	}{
		{name: "missing main application file is refused naming the template", op: admissionv1.Create, obj: parseYAML(t, skeleton),
			denied: []string{task.TemplateField + ".custom"}, msg: "either MainApplicationFile or MainClass must be set"},
		{name: "task type of another kind is refused", op: admissionv1.Create, obj: withTemplate(t, good, func(s string) string {
			return strings.Replace(s, "type: spark", "type: ray", 1)
		}), denied: []string{task.TemplateField + ".type"}, msg: `a "ray" task expands into a RayJob, not a SparkApplication`},
		{name: "undecodable template is refused", op: admissionv1.Create, obj: withTemplate(t, good, func(string) string { return "{not: [valid" }),
			denied: []string{task.TemplateField}},
		{name: "unannotated object is admitted untouched", op: admissionv1.Create, obj: parseYAML(t, `
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: plain, namespace: default, annotations: {team: x}}
spec: {entrypoint: python x.py}
`)},
		{name: "other kinds are admitted untouched", op: admissionv1.Create, obj: parseYAML(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: default, annotations: {flyte.org/task-template: "type: spark"}}
`)},
		{name: "UPDATE that changes the template re-expands", op: admissionv1.Update,
			obj: withTemplate(t, mustExpand(t, cfg, good), func(s string) string { return strings.Replace(s, `"3"`, `"5"`, 1) }),
			old: mustExpand(t, cfg, good), patch: true},
		{name: "DELETE is admitted", op: admissionv1.Delete, old: good},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := serve(t, mutator(cfg, nil), review(t, tc.op, tc.obj, tc.old, false))
			if tc.denied != nil {
				require.False(t, resp.Allowed)
				require.EqualValues(t, http.StatusUnprocessableEntity, resp.Result.Code)
				require.Equal(t, metav1.StatusReasonInvalid, resp.Result.Reason)
				require.Equal(t, tc.denied, causes(resp))
				require.Contains(t, resp.Result.Message, tc.msg)
				require.Contains(t, resp.Result.Message, `"`+tc.obj["metadata"].(map[string]any)["name"].(string)+`" is invalid`)
				return
			}
			require.True(t, resp.Allowed)
			if !tc.patch {
				require.Empty(t, resp.Patch)
				require.Nil(t, resp.PatchType)
				return
			}
			got := apply(t, tc.obj, resp)
			require.Equal(t, "5", got["spec"].(map[string]any)["executor"].(map[string]any)["instances"].(json.Number).String())
		})
	}
}

func TestMutateFollowsConfigReload(t *testing.T) {
	obj := readObjects(t, "../examples/spark-pi.yaml")[0].Map
	cfg := loadConfig(t, "")
	m := &Mutator{Registry: registry, Config: func() *config.Config { return cfg }, Now: fixedNow}
	expanded := apply(t, obj, serve(t, m, review(t, admissionv1.Create, obj, nil, false)))
	marker := expanded["metadata"].(map[string]any)["annotations"].(map[string]any)[task.ExpandedFromAnnotation]

	cfg = loadConfig(t, "../examples/config/plugins.yaml") // what the provider returns now
	again := apply(t, obj, serve(t, m, review(t, admissionv1.Create, obj, nil, false)))
	require.NotEqual(t, marker, again["metadata"].(map[string]any)["annotations"].(map[string]any)[task.ExpandedFromAnnotation])
	require.Equal(t, "flyte", again["metadata"].(map[string]any)["labels"].(map[string]any)["platform"], "the new config's default labels")
}

func TestMutateMetrics(t *testing.T) {
	cfg := loadConfig(t, "")
	m := mutator(cfg, nil)
	denied := testutil.ToFloat64(denialsTotal.WithLabelValues("SparkApplication", policyExpansion))
	patched := testutil.ToFloat64(requestsTotal.WithLabelValues(mutateName, "SparkApplication", "CREATE", ResultPatched))
	serve(t, m, review(t, admissionv1.Create, parseYAML(t, skeleton), nil, false))
	serve(t, m, review(t, admissionv1.Create, readObjects(t, "../examples/spark-pi.yaml")[0].Map, nil, false))
	require.Equal(t, denied+1, testutil.ToFloat64(denialsTotal.WithLabelValues("SparkApplication", policyExpansion)))
	require.Equal(t, patched+1, testutil.ToFloat64(requestsTotal.WithLabelValues(mutateName, "SparkApplication", "CREATE", ResultPatched)))
}

func mustExpand(t testing.TB, cfg *config.Config, obj map[string]any) map[string]any {
	t.Helper()
	out, err := offline(t, cfg, nil, obj)
	require.NoError(t, err)
	return out
}

func deepCopy(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	out, err := objects.DecodeMap(mustJSON(t, m))
	require.NoError(t, err)
	return out
}

// withTemplate returns a copy of obj whose task template is edit(template).
func withTemplate(t testing.TB, obj map[string]any, edit func(string) string) map[string]any {
	t.Helper()
	out := deepCopy(t, obj)
	ann := out["metadata"].(map[string]any)["annotations"].(map[string]any)
	ann[task.TemplateAnnotation] = edit(ann[task.TemplateAnnotation].(string))
	return out
}
