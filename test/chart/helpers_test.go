// Package chart tests the Helm chart in charts/flyte-admission with the Helm
// Go SDK (render, lint, values schema) and against a real kube-apiserver
// (server-side dry-run of every rendered object, the ServiceAccount's
// permissions by impersonation, and `flyte-admission serve` run with the
// chart's arguments and the chart's RBAC).
package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/flyte-admission/flyte-admission/test/testenv"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	chartDir = "../../charts/flyte-admission"
	// haValues is the high-availability preset shipped with the chart.
	haValues = chartDir + "/values-ha.yaml"
	// examplesDir holds the example plugin configuration and policies.
	examplesDir = "../../examples/config"
)

// kubeVersion is what the chart is rendered for: the version of the
// kube-apiserver that hack/build-control-plane.sh builds.
var kubeVersion = &chartutil.KubeVersion{Version: "v1.37.0", Major: "1", Minor: "37"}

// binary is the flyte-admission binary, built once for the package.
var binary string

func TestMain(m *testing.M) { os.Exit(testenv.MainWithBinary(m, &binary)) }

// release says what to render: like `helm install NAME chart -n NAMESPACE -f
// FILES... --set ...` (Values override the files).
type release struct {
	Name, Namespace string
	Files           []string
	Values          map[string]any
}

func (r release) values(t testing.TB) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, f := range r.Files {
		v, err := chartutil.ReadValuesFile(f)
		require.NoError(t, err, "values file %s", f)
		out = mergeValues(out, v.AsMap())
	}
	return mergeValues(out, deepCopy(t, r.Values))
}

// mergeValues merges src into dst like helm's -f/--set: maps merge key by
// key, anything else is replaced.
func mergeValues(dst, src map[string]any) map[string]any {
	out := maps.Clone(dst)
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(dm, sm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func deepCopy(t testing.TB, v map[string]any) map[string]any {
	t.Helper()
	if v == nil {
		return nil
	}
	data, err := json.Marshal(v)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

// rendered is a rendered release.
type rendered struct {
	Manifest string
	Notes    string
	Objects  []*unstructured.Unstructured
}

// render renders the chart as `helm install --dry-run` (client only) would,
// values schema included. The error is Helm's (schema violations, failed
// templates).
func render(t testing.TB, r release) (*rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err, "load chart")
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun, inst.DryRunOption = true, "client"
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = r.Name
	inst.Namespace = r.Namespace
	inst.KubeVersion = kubeVersion
	rel, err := inst.Run(ch, r.values(t))
	if err != nil {
		return nil, err
	}
	objs, err := decodeManifest(rel.Manifest)
	require.NoError(t, err, "decode the rendered manifest:\n%s", rel.Manifest)
	return &rendered{Manifest: rel.Manifest, Notes: rel.Info.Notes, Objects: objs}, nil
}

// mustRender renders r and fails the test on an error.
func mustRender(t testing.TB, r release) *rendered {
	t.Helper()
	out, err := render(t, r)
	require.NoError(t, err, "render %s in %s", r.Name, r.Namespace)
	return out
}

func decodeManifest(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// find returns the rendered object of that kind and name, nil if none.
func (r *rendered) find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// get is find that fails the test when the object is missing.
func (r *rendered) get(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := r.find(kind, name)
	require.NotNil(t, o, "no %s %q rendered; rendered: %s", kind, name, r.names())
	return o
}

func (r *rendered) kinds() map[string]int {
	out := map[string]int{}
	for _, o := range r.Objects {
		out[o.GetKind()]++
	}
	return out
}

func (r *rendered) names() string {
	var b strings.Builder
	for _, o := range r.Objects {
		fmt.Fprintf(&b, "%s/%s ", o.GetKind(), o.GetName())
	}
	return b.String()
}

// yamlOf renders objects as one multi-document YAML stream.
func yamlOf(t testing.TB, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		require.NoError(t, err)
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.Bytes()
}

// into converts an unstructured object into a typed one, refusing unknown
// fields (a misspelt field in a template would otherwise vanish silently).
func into(t testing.TB, o *unstructured.Unstructured, typed any) {
	t.Helper()
	data, err := json.Marshal(o.Object)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(typed), "%s %s has fields its type does not know", o.GetKind(), o.GetName())
}

func readYAML(t testing.TB, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(data, &m))
	return m
}
