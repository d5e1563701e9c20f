// Package flyte measures Flyte 1.16.8's own plugin code on the benchmark
// inputs of flyte-admission, as the baseline of `make bench`.
//
// It is a separate Go module on purpose: flyte-admission never links
// flyteplugins. This module reads the same skeleton files as
// flyte-admission's expand benchmarks and does what a Flyte propeller does for
// one task: decode the task template, call the k8s plugin's BuildResource and
// encode the object for the API server. The task execution context is made of
// plain structs (no mocks), so the figures are Flyte's work only.
package flyte

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/io"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/k8s"
	"github.com/flyteorg/flyte/flytestdlib/config"
	"github.com/flyteorg/flyte/flytestdlib/config/viper"
	"github.com/flyteorg/flyte/flytestdlib/storage"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/dask"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/ray"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/spark"
)

// casesFile lists the benchmark inputs, shared with flyte-admission's own
// benchmarks.
const casesFile = "../cases.json"

type benchCase struct {
	Name     string `json:"name"`
	Skeleton string `json:"skeleton"`
	Config   string `json:"config"`
}

func readCases(tb testing.TB) []benchCase {
	tb.Helper()
	b, err := os.ReadFile(casesFile)
	if err != nil {
		tb.Fatal(err)
	}
	var f struct{ Cases []benchCase }
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("%s: %v", casesFile, err)
	}
	return f.Cases
}

type skeleton struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

type execution struct {
	Project                  string            `json:"project"`
	Domain                   string            `json:"domain"`
	Name                     string            `json:"name"`
	Node                     string            `json:"node"`
	RetryAttempt             uint32            `json:"retryAttempt"`
	Namespace                string            `json:"namespace"`
	ServiceAccount           string            `json:"serviceAccount"`
	Interruptible            bool              `json:"interruptible"`
	InputPrefix              string            `json:"inputPrefix"`
	OutputPrefix             string            `json:"outputPrefix"`
	RawOutputPrefix          string            `json:"rawOutputPrefix"`
	CheckpointPrefix         string            `json:"checkpointPrefix"`
	PreviousCheckpointPrefix string            `json:"previousCheckpointPrefix"`
	Labels                   map[string]string `json:"labels"`
	Annotations              map[string]string `json:"annotations"`
	Environment              map[string]string `json:"environment"`
}

// loadCase reads a case's skeleton and execution annotation and returns the
// path of its plugin configuration ("" for none).
func loadCase(tb testing.TB, c benchCase) (skeleton, execution, string) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", c.Skeleton))
	if err != nil {
		tb.Fatal(err)
	}
	var sk skeleton
	if err := yaml.Unmarshal(raw, &sk); err != nil {
		tb.Fatal(err)
	}
	var ex execution
	if err := json.Unmarshal([]byte(sk.Metadata.Annotations["flyte.org/execution"]), &ex); err != nil {
		tb.Fatal(err)
	}
	cfg := c.Config
	if cfg != "" {
		cfg = filepath.Join("..", cfg)
	}
	return sk, ex, cfg
}

// loadConfig points flytestdlib's configuration at file (flytepropeller's
// `plugins:` keys) or, for "", at an empty file so every section is at its
// default.
func loadConfig(tb testing.TB, file string) {
	tb.Helper()
	if file == "" {
		file = filepath.Join(tb.TempDir(), "empty.yaml")
		if err := os.WriteFile(file, []byte("plugins: {}\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	acc := viper.NewAccessor(config.Options{SearchPaths: []string{file}, StrictMode: false})
	if err := acc.UpdateConfig(context.Background()); err != nil {
		tb.Fatalf("load %s: %v", file, err)
	}
}

func plugin(tb testing.TB, taskType string) k8s.Plugin {
	for _, e := range pluginmachinery.PluginRegistry().GetK8sPlugins() {
		for _, t := range e.RegisteredTaskTypes {
			if t == taskType {
				return e.Plugin
			}
		}
	}
	tb.Fatalf("no Flyte k8s plugin for task type %q", taskType)
	return nil
}

// BenchmarkFlyte runs, per input: protojson decode of the template
// annotation, BuildResource, json.Marshal of the object.
func BenchmarkFlyte(b *testing.B) {
	for _, c := range readCases(b) {
		sk, ex, cfg := loadCase(b, c)
		tmplJSON := []byte(sk.Metadata.Annotations["flyte.org/task-template"])
		b.Run(c.Name, func(b *testing.B) {
			loadConfig(b, cfg)
			var probe core.TaskTemplate
			if err := protojson.Unmarshal(tmplJSON, &probe); err != nil {
				b.Fatal(err)
			}
			p := plugin(b, probe.GetType())
			tctx := newContext(&ex, sk.Metadata.Name, &probe)
			ctx := context.Background()
			// One run outside the timer proves the input builds.
			if _, err := p.BuildResource(ctx, tctx); err != nil {
				b.Fatalf("BuildResource: %v", err)
			}
			b.ReportAllocs()
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				tmpl := &core.TaskTemplate{}
				if err := protojson.Unmarshal(tmplJSON, tmpl); err != nil {
					b.Fatal(err)
				}
				tctx.reader.tmpl = tmpl
				obj, err := p.BuildResource(ctx, tctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(obj); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func reportCPU(b *testing.B) func() {
	start := cpuTime()
	b.ResetTimer()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// The task execution context: plain values, mapped from the execution
// annotation as the conformance cases were made (see the shared conformance
// README). Interfaces are embedded so an unexpected call fails loudly.

type taskContext struct {
	pluginsCore.TaskExecutionContext
	reader *taskReader
	meta   *taskMeta
	in     *inputReader
	out    *outputWriter
}

func newContext(ex *execution, generatedName string, tmpl *core.TaskTemplate) *taskContext {
	attempts := uint32(1)
	if r := tmpl.GetMetadata().GetRetries(); r != nil {
		attempts = r.GetRetries() + 1
	}
	return &taskContext{
		reader: &taskReader{tmpl: tmpl},
		meta: &taskMeta{ex: ex, maxAttempts: attempts, id: &taskID{
			name: generatedName, node: ex.Node, ex: ex, task: tmpl.GetId(),
		}},
		in:  &inputReader{ex: ex},
		out: &outputWriter{ex: ex},
	}
}

func (c *taskContext) TaskReader() pluginsCore.TaskReader                       { return c.reader }
func (c *taskContext) TaskExecutionMetadata() pluginsCore.TaskExecutionMetadata { return c.meta }
func (c *taskContext) InputReader() io.InputReader                              { return c.in }
func (c *taskContext) OutputWriter() io.OutputWriter                            { return c.out }
func (c *taskContext) PluginStateReader() pluginsCore.PluginStateReader         { return stateReader{} }

type stateReader struct{ pluginsCore.PluginStateReader }

func (stateReader) GetStateVersion() uint8 { return 0 }
func (stateReader) Get(any) (uint8, error) { return 0, nil }

type taskReader struct{ tmpl *core.TaskTemplate }

func (r *taskReader) Read(context.Context) (*core.TaskTemplate, error) { return r.tmpl, nil }
func (r *taskReader) Path(context.Context) (storage.DataReference, error) {
	return "/task/template.pb", nil
}

type taskID struct {
	name, node string
	ex         *execution
	task       *core.Identifier
}

func (t *taskID) GetGeneratedName() string { return t.name }
func (t *taskID) GetGeneratedNameWith(minLength, maxLength int) (string, error) {
	return t.name, nil
}
func (t *taskID) GetID() core.TaskExecutionIdentifier {
	return core.TaskExecutionIdentifier{
		TaskId: t.task,
		NodeExecutionId: &core.NodeExecutionIdentifier{
			NodeId:      t.node,
			ExecutionId: &core.WorkflowExecutionIdentifier{Project: t.ex.Project, Domain: t.ex.Domain, Name: t.ex.Name},
		},
		RetryAttempt: t.ex.RetryAttempt,
	}
}
func (t *taskID) GetUniqueNodeID() string { return t.node }

type taskMeta struct {
	ex          *execution
	id          *taskID
	maxAttempts uint32
}

func (m *taskMeta) GetOwnerID() types.NamespacedName {
	return types.NamespacedName{Namespace: m.ex.Namespace, Name: m.ex.Name}
}
func (m *taskMeta) GetTaskExecutionID() pluginsCore.TaskExecutionID { return m.id }
func (m *taskMeta) GetNamespace() string                            { return m.ex.Namespace }
func (m *taskMeta) GetOwnerReference() metav1.OwnerReference        { return metav1.OwnerReference{} }
func (m *taskMeta) GetOverrides() pluginsCore.TaskOverrides         { return overrides{} }
func (m *taskMeta) GetLabels() map[string]string                    { return m.ex.Labels }
func (m *taskMeta) GetMaxAttempts() uint32                          { return m.maxAttempts }
func (m *taskMeta) GetAnnotations() map[string]string               { return m.ex.Annotations }
func (m *taskMeta) GetK8sServiceAccount() string                    { return m.ex.ServiceAccount }
func (m *taskMeta) GetSecurityContext() core.SecurityContext {
	return core.SecurityContext{RunAs: &core.Identity{K8SServiceAccount: m.ex.ServiceAccount}}
}
func (m *taskMeta) IsInterruptible() bool                              { return m.ex.Interruptible }
func (m *taskMeta) GetPlatformResources() *corev1.ResourceRequirements { return nil }
func (m *taskMeta) GetInterruptibleFailureThreshold() int32            { return 0 }
func (m *taskMeta) GetEnvironmentVariables() map[string]string         { return m.ex.Environment }
func (m *taskMeta) GetConsoleURL() string                              { return "" }

type overrides struct{}

func (overrides) GetResources() *corev1.ResourceRequirements    { return &corev1.ResourceRequirements{} }
func (overrides) GetExtendedResources() *core.ExtendedResources { return nil }
func (overrides) GetContainerImage() string                     { return "" }
func (overrides) GetPodTemplate() *core.K8SPod                  { return nil }
func (overrides) GetConfig() *corev1.ConfigMap                  { return nil }

type inputReader struct {
	io.InputReader
	ex *execution
}

func (r *inputReader) GetInputPrefixPath() storage.DataReference {
	return storage.DataReference(r.ex.InputPrefix)
}
func (r *inputReader) GetInputPath() storage.DataReference {
	return storage.DataReference(r.ex.InputPrefix + "/inputs.pb")
}
func (r *inputReader) Get(context.Context) (*core.LiteralMap, error) { return &core.LiteralMap{}, nil }

type outputWriter struct {
	io.OutputWriter
	ex *execution
}

func (w *outputWriter) GetOutputPrefixPath() storage.DataReference {
	return storage.DataReference(w.ex.OutputPrefix)
}
func (w *outputWriter) GetOutputPath() storage.DataReference {
	return storage.DataReference(w.ex.OutputPrefix + "/outputs.pb")
}
func (w *outputWriter) GetRawOutputPrefix() storage.DataReference {
	return storage.DataReference(w.ex.RawOutputPrefix)
}
func (w *outputWriter) GetCheckpointPrefix() storage.DataReference {
	return storage.DataReference(w.ex.CheckpointPrefix)
}
func (w *outputWriter) GetPreviousCheckpointsPrefix() storage.DataReference {
	return storage.DataReference(w.ex.PreviousCheckpointPrefix)
}

// TestDump writes the object Flyte builds for each input to the directory
// named by FLYTE_BASELINE_DUMP (skipped without it), to compare with
// `flyte-admission expand` of the same input.
func TestDump(t *testing.T) {
	dir := os.Getenv("FLYTE_BASELINE_DUMP")
	if dir == "" {
		t.Skip("FLYTE_BASELINE_DUMP not set")
	}
	for _, c := range readCases(t) {
		sk, ex, cfg := loadCase(t, c)
		loadConfig(t, cfg)
		tmpl := &core.TaskTemplate{}
		if err := protojson.Unmarshal([]byte(sk.Metadata.Annotations["flyte.org/task-template"]), tmpl); err != nil {
			t.Fatal(err)
		}
		obj, err := plugin(t, tmpl.GetType()).BuildResource(context.Background(), newContext(&ex, sk.Metadata.Name, tmpl))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		b, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, strings.ReplaceAll(c.Name, "/", "_")+".json")
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
