// Package task decodes the Flyte task a skeletal object carries: the TaskTemplate
// annotation and the execution-context annotation, with the defaults Flyte's
// propeller would have supplied.
package task

import (
	"bytes"
	"encoding/json"
	"fmt"
	corev1 "k8s.io/api/core/v1"
	"strings"
	"unicode/utf8"

	"github.com/flyte-admission/flyte-admission/internal/pbjson"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"
)

// Annotation keys of the wire contract.
const (
	TemplateAnnotation     = "flyte.org/task-template"
	ExecutionAnnotation    = "flyte.org/execution"
	ExpandedFromAnnotation = "flyte.org/expanded-from"
)

// MaxAnnotationBytes bounds a single annotation value we are willing to decode
// (the apiserver caps all annotations of an object at 256 KiB together).
const MaxAnnotationBytes = 256 << 10

// DefaultTaskTemplatePath is what {{.taskTemplatePath}} renders to when the
// execution annotation does not say (the path Flyte's reference harness uses).
const DefaultTaskTemplatePath = "/task/template.pb"

// Execution is the decoded flyte.org/execution annotation: Flyte's
// TaskExecutionMetadata and IO paths for one attempt.
type Execution struct {
	Project                  string            `json:"project,omitempty"`
	Domain                   string            `json:"domain,omitempty"`
	Name                     string            `json:"name,omitempty"`
	Node                     string            `json:"node,omitempty"`
	RetryAttempt             uint32            `json:"retryAttempt,omitempty"`
	Namespace                string            `json:"namespace,omitempty"`
	ServiceAccount           string            `json:"serviceAccount,omitempty"`
	Interruptible            *bool             `json:"interruptible,omitempty"`
	InputPrefix              string            `json:"inputPrefix,omitempty"`
	OutputPrefix             string            `json:"outputPrefix,omitempty"`
	RawOutputPrefix          string            `json:"rawOutputPrefix,omitempty"`
	CheckpointPrefix         string            `json:"checkpointPrefix,omitempty"`
	PreviousCheckpointPrefix string            `json:"previousCheckpointPrefix,omitempty"`
	TaskTemplatePath         string            `json:"taskTemplatePath,omitempty"`
	Labels                   map[string]string `json:"labels,omitempty"`
	Annotations              map[string]string `json:"annotations,omitempty"`
	Environment              map[string]string `json:"environment,omitempty"`
}

// Task is everything an expansion reads: the template, the execution context
// and the identity of the object being expanded.
type Task struct {
	// Template is shared between tasks decoded from the same text: read only.
	Template *core.TaskTemplate
	Exec     Execution
	// Name is the object's metadata.name: Flyte's generated name.
	Name string
	// Namespace is the object's namespace.
	Namespace string

	decoded *decoded
	// generated is what Grow was charged.
	generated int64
}

// Interruptible reports whether the attempt may run on interruptible nodes.
func (t *Task) Interruptible() bool {
	if t.Exec.Interruptible != nil {
		return *t.Exec.Interruptible
	}
	return t.Template.GetMetadata().GetInterruptible()
}

// MaxAttempts is Flyte's GetMaxAttempts: retries + 1.
func (t *Task) MaxAttempts() uint32 {
	return t.Template.GetMetadata().GetRetries().GetRetries() + 1
}

// Error is a decoding or expansion error that names the offending field.
type Error struct {
	// Field is a field path such as metadata.annotations[flyte.org/task-template].custom.
	Field string
	// Code is Flyte's error code where one applies (BadTaskSpecification).
	Code string
	Err  error
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: [%s] %v", e.Field, e.Code, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Field, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// BadSpec returns a BadTaskSpecification error on field.
func BadSpec(field string, format string, args ...any) *Error {
	return &Error{Field: field, Code: "BadTaskSpecification", Err: fmt.Errorf(format, args...)}
}

// TemplateField is the field path of the task-template annotation.
const TemplateField = "metadata.annotations[" + TemplateAnnotation + "]"

// ExecutionField is the field path of the execution annotation.
const ExecutionField = "metadata.annotations[" + ExecutionAnnotation + "]"

// DecodeTemplate decodes a TaskTemplate given as protobuf JSON (camelCase or
// snake_case names), YAML, or binary protobuf in base64 after
// BinaryTemplatePrefix.
func DecodeTemplate(s string) (*core.TaskTemplate, error) {
	d, err := decodeTemplate(s)
	if err != nil {
		return nil, err
	}
	return d.template, nil
}

// decodeTemplate is DecodeTemplate, with the cost of the result for the cache.
func decodeTemplate(s string) (*decoded, error) {
	if len(s) > MaxAnnotationBytes {
		return nil, &Error{Field: TemplateField, Err: fmt.Errorf("value is %d bytes, more than the %d allowed", len(s), MaxAnnotationBytes)}
	}
	var (
		tt       *core.TaskTemplate
		size     int // bytes of the JSON or binary decoded
		values   int
		jsonText string // the JSON decoded, if it was
	)
	if t := strings.TrimSpace(s); isBinaryTemplate(t) {
		var err error
		if tt, size, values, err = decodeBinaryTemplate(t); err != nil {
			return nil, &Error{Field: TemplateField, Err: err}
		}
	} else {
		data, err := toJSON(s)
		if err != nil {
			return nil, &Error{Field: TemplateField, Err: err}
		}
		values = countJSONValues(data, MaxTemplateValues)
		if values > MaxTemplateValues {
			return nil, &Error{Field: TemplateField, Err: fmt.Errorf("the template has more than %d values", MaxTemplateValues)}
		}
		tt = &core.TaskTemplate{}
		if err := pbjson.UnmarshalString(data, tt); err != nil {
			return nil, &Error{Field: TemplateField, Err: fmt.Errorf("decode task template: %w", err)}
		}
		size, jsonText = len(data), data
	}
	if tt.GetType() == "" {
		return nil, &Error{Field: TemplateField + ".type", Err: fmt.Errorf("task type is required")}
	}
	if _, err := SecretAnnotations(tt.GetSecurityContext().GetSecrets()); err != nil {
		return nil, err
	}
	// The decoded strings share data; the rest is about a value each, and as
	// much again for the custom message and pod specs decoded from it later.
	cost := int64(len(s)) + int64(size) + 2*bytesPerValue*int64(values)
	d := &decoded{key: s, template: tt, cost: cost}
	if tt.GetCustom() != nil && jsonText != "" {
		if raw, ok := pbjson.Member(jsonText, "custom"); ok && integersOnly(raw) {
			d.customJSON = raw // a part of what the cost counts
		}
	}
	return d, nil
}

// DecodeExecution decodes the execution annotation (JSON or YAML). Unknown
// fields are an error naming the field, since a typo would silently change
// the expansion.
func DecodeExecution(s string) (Execution, error) {
	return decodeExecutionWith(s, decodeExecutionJSON)
}

// decodeExecutionWith is DecodeExecution with decode as the JSON decoder (the
// tests compare the fast decoder with encoding/json's).
func decodeExecutionWith(s string, decode func(string) (Execution, error)) (Execution, error) {
	var e Execution
	if strings.TrimSpace(s) == "" {
		return e, nil
	}
	data, err := toJSON(s)
	if err != nil {
		return e, &Error{Field: ExecutionField, Err: err}
	}
	if e, err = decode(data); err != nil {
		return e, &Error{Field: ExecutionField, Err: fmt.Errorf("decode execution context: %w", err)}
	}
	return e, nil
}

// toJSON accepts JSON or YAML text and returns JSON (JSON text as it is,
// without a copy).
func toJSON(s string) (string, error) {
	if len(s) > MaxAnnotationBytes {
		return "", fmt.Errorf("value is %d bytes, more than the %d allowed", len(s), MaxAnnotationBytes)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("value is not valid UTF-8")
	}
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		return t, nil
	}
	if len(t) > MaxYAMLBytes {
		return "", fmt.Errorf("value is %d bytes of YAML, more than the %d allowed (JSON may have up to %d)", len(t), MaxYAMLBytes, MaxAnnotationBytes)
	}
	if err := checkYAMLSize(t); err != nil {
		return "", err
	}
	data, err := yaml.YAMLToJSON([]byte(t))
	if err != nil {
		return "", fmt.Errorf("parse YAML: %w", err)
	}
	if len(data) > yamlBudget(len(t)) {
		return "", fmt.Errorf("the YAML became %d bytes of JSON, more than the %d allowed", len(data), yamlBudget(len(t)))
	}
	if !bytes.HasPrefix(data, []byte("{")) {
		return "", fmt.Errorf("expected an object, got %s", truncate(string(data), 40))
	}
	return string(data), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// New builds a Task from an object's name, namespace and annotations, applying
// the documented defaults for every absent execution field.
func New(name, namespace string, annotations map[string]string) (*Task, error) {
	raw, ok := annotations[TemplateAnnotation]
	if !ok {
		return nil, &Error{Field: TemplateField, Err: fmt.Errorf("annotation is missing")}
	}
	d, err := cachedTemplate(raw, false)
	if err != nil {
		return nil, err
	}
	exec, err := DecodeExecution(annotations[ExecutionAnnotation])
	if err != nil {
		return nil, err
	}
	if err := exec.applyDefaults(name, namespace); err != nil {
		return nil, err
	}
	return &Task{Template: d.template, Exec: exec, Name: name, Namespace: namespace, decoded: d}, nil
}

// CachedTemplate is DecodeTemplate through the template cache; the result is
// shared: read only.
// Templates of stored objects (which were admitted) are kept in the cache.
func CachedTemplate(raw string) (*core.TaskTemplate, error) {
	d, err := cachedTemplate(raw, true)
	if err != nil {
		return nil, err
	}
	return d.template, nil
}

// cachedTemplate returns the cached decoding of raw, or decodes it, and
// caches it when keep says so (else Keep does, once the task expanded).
func cachedTemplate(raw string, keep bool) (*decoded, error) {
	if d := cache.get(raw); d != nil {
		return d, nil
	}
	d, err := decodeTemplate(raw)
	if err != nil {
		return nil, err
	}
	if keep {
		cache.put(d)
	}
	return d, nil
}

// Keep caches the task's decoded template for the next task of the same
// text. Callers keep only tasks that expanded: an input refused for any
// reason must cost its full price again when it is sent again.
func (t *Task) Keep() {
	if t.decoded != nil && t.decoded.key != "" {
		cache.put(t.decoded)
	}
}

// ExecutionFor decodes just the execution context of an object (for phase
// mapping, where the template may be absent), with defaults applied.
func ExecutionFor(name, namespace string, annotations map[string]string) (Execution, error) {
	exec, err := DecodeExecution(annotations[ExecutionAnnotation])
	if err != nil {
		return exec, err
	}
	err = exec.applyDefaults(name, namespace)
	return exec, err
}

func (e *Execution) applyDefaults(name, namespace string) error {
	if e.Namespace == "" {
		e.Namespace = namespace
	} else if namespace != "" && e.Namespace != namespace {
		return &Error{Field: ExecutionField + ".namespace",
			Err: fmt.Errorf("%q differs from the object's namespace %q", e.Namespace, namespace)}
	}
	if e.Name == "" {
		e.Name = name
	}
	if e.Node == "" {
		e.Node = "n0"
	}
	if e.Project == "" && e.Domain == "" {
		if i := strings.LastIndexByte(e.Namespace, '-'); i > 0 && i < len(e.Namespace)-1 {
			e.Project, e.Domain = e.Namespace[:i], e.Namespace[i+1:]
		} else {
			e.Project, e.Domain = e.Namespace, "development"
		}
	}
	if e.TaskTemplatePath == "" {
		e.TaskTemplatePath = DefaultTaskTemplatePath
	}
	return nil
}

// DecodeCustom decodes the template's custom Struct into a plugin message, as
// Flyte's UnmarshalStructToPb does (JSON names or proto names, unknown fields
// ignored).
func DecodeCustom(custom *structpb.Struct, into proto.Message) error {
	if custom == nil {
		return fmt.Errorf("nil Struct object passed")
	}
	data, err := appendStruct(nil, custom)
	if err != nil {
		return fmt.Errorf("encode custom: %w", err)
	}
	if err := pbjson.Unmarshal(data, into); err != nil {
		return fmt.Errorf("decode custom: %w", err)
	}
	return nil
}

// cached is the task's entry of decoded template parts (its own when the
// template did not come through the cache).
func (t *Task) cached() *decoded {
	if t.decoded == nil {
		t.decoded = &decoded{template: t.Template}
	}
	return t.decoded
}

// Custom decodes the template's custom Struct into a message like prototype
// (see DecodeCustom). The result is shared between tasks of the same template
// text: read only.
func (t *Task) Custom(prototype proto.Message) (proto.Message, error) {
	d := t.cached()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.custom != nil && d.custom.ProtoReflect().Descriptor() == prototype.ProtoReflect().Descriptor() {
		return d.custom, nil
	}
	msg := prototype.ProtoReflect().New().Interface()
	// The custom member as written decodes to what the Struct's JSON would,
	// without writing that JSON and reading it again; anything it refuses
	// takes the Struct's way, for Flyte's error.
	if d.customJSON == "" || pbjson.UnmarshalString(d.customJSON, msg) != nil {
		if err := DecodeCustom(t.Template.GetCustom(), msg); err != nil {
			return nil, err
		}
	}
	d.custom = msg
	return msg, nil
}

// integersOnly reports whether every number in the JSON text s is an integer
// of at most 15 digits, written plainly: such numbers survive the round trip
// through a Struct (a float64, written back by appendStruct) as the same
// text, so decoding s gives what decoding the Struct's JSON gives.
func integersOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case c == '-' || c >= '0' && c <= '9':
			if c == '-' {
				i++
			}
			digits := 0
			for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
				digits++
			}
			if digits == 0 || digits > 15 || digits > 1 && s[i-digits] == '0' {
				return false
			}
			if i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
				return false
			}
			i--
		}
	}
	return true
}

// PodSpec decodes s, a pod spec embedded in the template (k8sPod.podSpec or
// a plugin's pod overlay), as DecodeStructTo does. The result is shared
// between tasks of the same template text: read only (copy before changing).
func (t *Task) PodSpec(s *structpb.Struct) (*corev1.PodSpec, error) {
	d := t.cached()
	d.mu.Lock()
	defer d.mu.Unlock()
	if spec, ok := d.pods[s]; ok {
		return spec, nil
	}
	spec := &corev1.PodSpec{}
	if err := DecodeStructTo(s, spec); err != nil {
		return nil, err
	}
	if d.pods == nil {
		d.pods = map[*structpb.Struct]*corev1.PodSpec{}
	}
	d.pods[s] = spec
	return spec, nil
}

// DecodeStructTo decodes a Struct (an embedded pod spec) into a Go value with
// encoding/json, as Flyte's UnmarshalStructToObj does.
func DecodeStructTo(s *structpb.Struct, into any) error {
	data, err := appendStruct(nil, s)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, into)
}
