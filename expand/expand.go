// Package expand is the admission pipeline: decode the task annotations of an
// object, pick its plugin, expand, lay the user's own fields over the result,
// stamp the provenance marker and compute the JSON patch. Expanding an
// already-expanded object is a no-op.
package expand

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/flyte-admission/flyte-admission/internal/jsonvalue"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/podspec"
	"github.com/flyte-admission/flyte-admission/task"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Expander expands skeletal objects.
type Expander struct {
	Registry *plugins.Registry
	Env      plugins.Env
	// Reserve, if set, is called before an expansion's work begins (never
	// for objects left alone) and its release once the work has ended; an
	// error stops the expansion (the webhook's memory budget).
	Reserve func(context.Context) (release func(), err error)
}

// Result is the outcome of expanding one object.
type Result struct {
	// Patch turns the input into Object(); empty when nothing changed.
	Patch []Op
	// framed is Patch as JSON, written around the encoded spec (see
	// encodeFramed); nil: PatchJSON encodes Patch.
	framed []byte
	// Plugin is the plugin of the object's kind (nil for foreign kinds).
	Plugin plugins.Plugin
	// Skipped says why the object was left alone, if it was.
	Skipped string
	// object is the expanded object, or nil until merge has made it.
	object map[string]any
	merge  func() map[string]any
}

// Object returns the expanded object (the input itself when nothing
// changed). An expansion whose patch was written around the encoded spec
// makes it on the first call only: the webhook needs the patch alone. Not
// for concurrent use.
func (r *Result) Object() map[string]any {
	if r.merge != nil {
		r.object, r.merge = r.merge(), nil
	}
	return r.object
}

// Error is an expansion failure of one object, naming the field.
type Error struct {
	Field   string
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// FieldErrors renders the error as a field.ErrorList (for admission denials).
func (e *Error) FieldErrors() field.ErrorList {
	return field.ErrorList{field.Invalid(pathOf(e.Field), field.OmitValueType{}, e.Message)}
}

func pathOf(s string) *field.Path {
	if s == "" {
		return nil
	}
	// Keep annotation keys (which contain dots) intact: split only outside brackets.
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, s[start:])
	return field.NewPath(parts[0], parts[1:]...)
}

// Provenance returns the flyte.org/expanded-from marker for the given inputs.
func Provenance(template, execution, configGeneration string) string {
	// The inputs (kilobytes of annotations) go through a small buffer
	// rather than being copied whole.
	h := sha256.New()
	var chunk [512]byte
	for i, s := range [...]string{template, execution, configGeneration} {
		if i > 0 {
			h.Write([]byte{0})
		}
		for len(s) > 0 {
			n := copy(chunk[:], s)
			h.Write(chunk[:n])
			s = s[n:]
		}
	}
	var sum [sha256.Size]byte
	return "sha256:" + hex.EncodeToString(h.Sum(sum[:0]))
}

// Head is the part of an object that decides whether it needs expanding: its
// kind and annotations.
type Head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

// Decoded is an object as DecodeRaw left it: its head, and the whole object
// when it was decoded at once (nil: decoded later, if it needs expanding).
type Decoded struct {
	Head   Head
	Object map[string]any
	raw    []byte
}

// DecodeRaw decodes a JSON-encoded object for ExpandDecoded. A skeleton
// (template annotation, no provenance marker) is decoded once, whole;
// anything else by its head only, as it most likely needs nothing. The byte
// search only picks the order: decisions are taken on decoded annotations,
// and errors are those of decoding the head.
func DecodeRaw(raw []byte) (*Decoded, error) {
	d := &Decoded{raw: raw}
	if bytes.Contains(raw, templateKey) && !bytes.Contains(raw, markerKey) {
		if obj, err := DecodeObject(raw); err == nil && headOf(obj, &d.Head) {
			d.Object = obj
			return d, nil
		}
		d.Head = Head{}
	}
	if err := decodeHead(raw, &d.Head); err != nil {
		return nil, err
	}
	return d, nil
}

// headSelection is what decodeHead reads of an object.
var headSelection = jsonvalue.Selection{"apiVersion": nil, "kind": nil, "metadata": {"annotations": nil}}

// decodeHead decodes an object's head, skipping the rest unread: an
// expanded object's head took a full encoding/json decoding before (46 µs
// for an 8 KB RayJob, the whole cost of a review that changes nothing).
// Names match exactly, as in the skeleton's decoding; input that does not
// decode that way gets encoding/json's reading and error.
func decodeHead(raw []byte, h *Head) error {
	if m, err := jsonvalue.DecodeSelected(raw, headSelection); err == nil && m != nil && headOf(m, h) {
		return nil
	}
	*h = Head{}
	return json.Unmarshal(raw, h)
}

// headOf fills h from a decoded object; false if a field has a type the
// head's decoding would refuse.
func headOf(obj map[string]any, h *Head) bool {
	var ok bool
	if v, in := obj["apiVersion"]; in {
		if h.APIVersion, ok = v.(string); !ok {
			return false
		}
	}
	if v, in := obj["kind"]; in {
		if h.Kind, ok = v.(string); !ok {
			return false
		}
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		return obj["metadata"] == nil
	}
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		return meta["annotations"] == nil
	}
	h.Metadata.Annotations = make(map[string]string, len(ann))
	for k, v := range ann {
		s, ok := v.(string)
		if !ok {
			return false
		}
		h.Metadata.Annotations[k] = s
	}
	return true
}

// ExpandRaw is Expand for JSON-encoded objects (an admission request's object
// and old object; old may be nil): DecodeRaw, then ExpandDecoded.
func (x *Expander) ExpandRaw(ctx context.Context, raw, oldRaw []byte) (*Result, error) {
	d, err := DecodeRaw(raw)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("decode object: %v", err)}
	}
	return x.ExpandDecoded(ctx, d, oldRaw)
}

// ExpandDecoded expands an object DecodeRaw decoded; oldRaw is the stored
// object on UPDATE (nil on CREATE). Objects that need nothing are recognised
// from their head without decoding the rest.
func (x *Expander) ExpandDecoded(ctx context.Context, d *Decoded, oldRaw []byte) (*Result, error) {
	gvk := schema.FromAPIVersionAndKind(d.Head.APIVersion, d.Head.Kind)
	plugin, ok := x.Registry.ForKind(gvk.GroupKind())
	if !ok {
		return &Result{Skipped: "not a kind of ours"}, nil
	}
	var oldAnn map[string]string
	if len(oldRaw) > 0 {
		var op Head
		if err := decodeHead(oldRaw, &op); err != nil {
			return nil, &Error{Message: fmt.Sprintf("decode old object: %v", err)}
		}
		oldAnn = op.Metadata.Annotations
	}
	marker, skip := x.decide(d.Head.Metadata.Annotations, oldAnn, len(oldRaw) > 0)
	if skip != "" {
		return &Result{Plugin: plugin, Skipped: skip}, nil
	}
	obj := d.Object
	if obj == nil {
		var err error
		if obj, err = DecodeObject(d.raw); err != nil {
			return nil, &Error{Message: fmt.Sprintf("decode object: %v", err)}
		}
	}
	var old map[string]any
	if len(oldRaw) > 0 {
		old, _ = DecodeObject(oldRaw) // undecodable: expand as on CREATE
	}
	ann := d.Head.Metadata.Annotations
	if d.Object == nil {
		// The head may have been read as encoding/json reads it (names
		// matched in any case): the object's own annotations count.
		ann = annotationsOf(obj)
	}
	return x.expand(ctx, plugin, obj, ann, old, marker)
}

// The ends of the annotation keys as they appear in an object's JSON, from
// the '/' on: a search for a needle that starts with '"' stops at every
// string of the object (four times slower on a RayJob skeleton).
var (
	templateKey = keyEnd(task.TemplateAnnotation)
	markerKey   = keyEnd(task.ExpandedFromAnnotation)
)

func keyEnd(key string) []byte { return []byte(key[strings.IndexByte(key, '/'):] + `"`) }

// decide returns the provenance marker of an object's task annotations, or
// why it needs no expansion: no template, already expanded, or an UPDATE
// (hasOld) of an expanded object that keeps its task annotations.
func (x *Expander) decide(ann, oldAnn map[string]string, hasOld bool) (marker, skip string) {
	tmpl, ok := ann[task.TemplateAnnotation]
	if !ok {
		return "", "no " + task.TemplateAnnotation + " annotation"
	}
	marker = Provenance(tmpl, ann[task.ExecutionAnnotation], x.Env.Config.Generation)
	stamp, expanded := ann[task.ExpandedFromAnnotation]
	switch {
	case stamp == marker:
		return marker, "already expanded"
	case hasOld && expanded && oldAnn[task.TemplateAnnotation] == tmpl && oldAnn[task.ExecutionAnnotation] == ann[task.ExecutionAnnotation]:
		return marker, "task annotations unchanged"
	}
	return marker, ""
}

// Expand expands obj (a decoded object). old is the stored object on UPDATE
// (nil on CREATE): an UPDATE that does not change the task annotations of an
// expanded object is left alone, and one that does re-expands, keeping the
// fields the user wrote.
func (x *Expander) Expand(ctx context.Context, obj, old map[string]any) (*Result, error) {
	gvk := gvkOf(obj)
	p, ok := x.Registry.ForKind(gvk.GroupKind())
	if !ok {
		return &Result{object: obj, Skipped: "not a kind of ours"}, nil
	}
	var oldAnn map[string]string
	if old != nil {
		oldAnn = annotationsOf(old)
	}
	ann := annotationsOf(obj)
	marker, skip := x.decide(ann, oldAnn, old != nil)
	if skip != "" {
		return &Result{object: obj, Plugin: p, Skipped: skip}, nil
	}
	return x.expand(ctx, p, obj, ann, old, marker)
}

// expand generates, merges (three-way against old's expansion, if any),
// stamps the marker and diffs. ann is obj's annotations.
func (x *Expander) expand(ctx context.Context, p plugins.Plugin, obj map[string]any, ann map[string]string, old map[string]any, marker string) (*Result, error) {
	xp, ok := p.(Plugin)
	if !ok {
		return nil, &Error{Message: fmt.Sprintf("the %s plugin expands no task", p.Kind().Kind)}
	}
	if x.Reserve != nil {
		release, err := x.Reserve(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	res := &Result{object: obj, Plugin: p}
	var base map[string]any
	if old != nil {
		oldAnn := annotationsOf(old)
		if _, had := oldAnn[task.TemplateAnnotation]; had {
			// What the previous expansion generated: fields still equal to it
			// were not written by the user and follow the new template.
			if prev, err := x.generate(ctx, xp, old, oldAnn, ""); err == nil {
				base = prev.object()
			}
		}
	}
	// A spec the user left empty, with nothing generated before, is the
	// generated one as it is: one operation, written around its encoding.
	frameOp := ""
	if userSpec, had := obj["spec"]; base == nil && isEmptyObject(userSpec) {
		frameOp = "add"
		if had {
			frameOp = "replace"
		}
	}
	gen, err := x.generate(ctx, xp, obj, ann, frameOp)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defaults := xp.CRDDefaults()
	if gen.frame != nil {
		// Only the metadata is merged; the operations are written as Diff
		// would, and the object is made if someone asks for it.
		om, _ := obj["metadata"].(map[string]any)
		if ops, ok := metadataOps(om, &gen, marker, Op{Op: frameOp, Path: "/spec", Value: gen.spec}); ok {
			if res.Patch, res.framed = framePatch(gen.frame, gen.head, frameOp, ops); res.framed != nil {
				res.object, res.merge = nil, func() map[string]any {
					return stamped(mergeObject(gen.object(), obj, nil, defaults), marker)
				}
				return res, nil
			}
		}
	}
	merged := stamped(mergeObject(gen.object(), obj, base, defaults), marker)
	res.object = merged
	res.Patch = Diff(obj, merged)
	if gen.frame != nil {
		res.Patch, res.framed = framePatch(gen.frame, gen.head, frameOp, res.Patch)
	}
	return res, nil
}

// isEmptyObject reports a missing value or an empty JSON object.
func isEmptyObject(v any) bool {
	m, ok := v.(map[string]any)
	return v == nil || ok && len(m) == 0
}

// generated is what an expansion generates: the encoded spec and the
// metadata to lay over the user's.
type generated struct {
	// spec is the encoded spec: whole (json.RawMessage) when framed, else
	// member by member (map[string]any of json.RawMessage); nil for none.
	spec any
	// frame is the patch buffer the whole spec is encoded in, after the head
	// of its operation; the spec starts at head (see encodeFramed).
	frame []byte
	head  int
	// labels and annotations are the generated ones (this expansion's own
	// maps); finalizer says whether Flyte's finalizer is added.
	labels, annotations map[string]string
	finalizer           bool
}

// object returns the generated object as mergeObject takes it.
func (g *generated) object() map[string]any {
	meta := map[string]any{}
	if len(g.labels) > 0 {
		meta["labels"] = anyMap(g.labels)
	}
	if len(g.annotations) > 0 {
		meta["annotations"] = anyMap(g.annotations)
	}
	if g.finalizer {
		meta["finalizers"] = []any{finalizer}
	}
	obj := map[string]any{"metadata": meta}
	if g.spec != nil {
		obj["spec"] = g.spec
	}
	return obj
}

// finalizer is the finalizer Flyte adds when configured to.
const finalizer = "flyte.org/finalizer-k8s"

// generate runs the plugin for obj (whose annotations are ann) and returns
// what it generated. With frameOp (add or replace) the spec is encoded whole
// after the head of a patch operation of that name (encodeFramed); else
// member by member.
func (x *Expander) generate(ctx context.Context, p Plugin, obj map[string]any, ann map[string]string, frameOp string) (gen generated, err error) {
	name, namespace := metaString(obj, "name"), metaString(obj, "namespace")
	t, err := task.New(name, namespace, ann)
	if err != nil {
		return gen, asError(err)
	}
	tt := t.Template.GetType()
	tp, ok := x.Registry.ForTaskType(tt)
	if !ok {
		return gen, &Error{Field: task.TemplateField + ".type", Code: "BadTaskSpecification",
			Message: fmt.Sprintf("unknown task type %q (this webhook expands %s)", tt, strings.Join(x.Registry.TaskTypes(), ", "))}
	}
	if tp.Kind().GroupKind() != p.Kind().GroupKind() {
		return gen, &Error{Field: task.TemplateField + ".type", Code: "BadTaskSpecification",
			Message: fmt.Sprintf("a %q task expands into a %s, not a %s", tt, tp.Kind().Kind, p.Kind().Kind)}
	}
	if err := ctx.Err(); err != nil {
		return gen, err
	}
	out, err := p.Expand(ctx, t, x.Env)
	if err != nil {
		if ctx.Err() != nil {
			return gen, ctx.Err()
		}
		return gen, asError(err)
	}
	if v := specOf(out); v != nil {
		if frameOp != "" {
			if gen.frame, gen.head, err = encodeFramed(v, frameOp, t.Generated()); err == nil {
				gen.spec = json.RawMessage(gen.frame[gen.head:len(gen.frame):len(gen.frame)])
			}
		} else {
			fields := make(map[string]any, 16)
			if err = encodeFields(v, fields, t.Generated()); err == nil {
				gen.spec = fields
			}
		}
		if err != nil {
			var large *tooLarge
			if errors.As(err, &large) {
				return gen, &Error{Field: "spec." + large.member, Code: "BadTaskSpecification", Message: large.Error()}
			}
			return gen, fmt.Errorf("encode expanded %s: %w", p.Kind().Kind, err)
		}
	}
	t.Keep() // expanded: worth keeping its decoded template
	k8s := &x.Env.Config.Plugins.K8s
	tm := t.Template.GetMetadata().GetMetadata()
	gen.labels = union(k8s.DefaultLabels, out.GetLabels(), tm.GetLabels(), plugins.Labels(t))
	gen.annotations = union(k8s.DefaultAnnotations, out.GetAnnotations(), tm.GetAnnotations(), plugins.Annotations(t))
	gen.finalizer = k8s.InjectFinalizer
	// Encoded, and its labels and annotations copied: the object is done.
	if r, ok := p.(Recycler); ok {
		r.Recycle(out)
	}
	return gen, nil
}

// mergeObject lays obj's metadata labels/annotations/finalizers and spec over
// gen; everything else of obj is kept as it is.
func mergeObject(gen, obj, base map[string]any, defaults map[string]any) map[string]any {
	out := make(map[string]any, len(obj)+1)
	for k, v := range obj {
		out[k] = v
	}
	om, _ := obj["metadata"].(map[string]any)
	meta := make(map[string]any, len(om)+2)
	for k, v := range om {
		meta[k] = v
	}
	gm, _ := gen["metadata"].(map[string]any)
	bm, _ := base["metadata"].(map[string]any)
	for _, k := range []string{"labels", "annotations"} {
		if g, ok := gm[k]; ok {
			meta[k] = merge(g, om[k], bm[k], "metadata."+k, nil)
		}
	}
	if f, ok := gm["finalizers"].([]any); ok {
		meta["finalizers"] = addFinalizers(om["finalizers"], f)
	}
	out["metadata"] = meta
	if spec, ok := gen["spec"]; ok {
		out["spec"] = merge(spec, obj["spec"], base["spec"], "spec", defaults)
	}
	return out
}

func addFinalizers(have any, add []any) []any {
	list, _ := have.([]any)
	out := append([]any(nil), list...)
	for _, f := range add {
		found := false
		for _, h := range list {
			if h == f {
				found = true
			}
		}
		if !found {
			out = append(out, f)
		}
	}
	return out
}

// union returns a new map of the entries of maps, later ones winning.
func union(maps ...map[string]string) map[string]string {
	n := 0
	for _, m := range maps {
		n += len(m)
	}
	out := make(map[string]string, n)
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// anyMap returns m with values of type any, as decoded JSON holds them.
func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func asError(err error) error {
	var te *task.Error
	if errors.As(err, &te) {
		return &Error{Field: te.Field, Code: te.Code, Message: clean(te.Err.Error())}
	}
	var fe *podspec.FieldError
	if errors.As(err, &fe) {
		return &Error{Field: fe.Field, Code: "BadTaskSpecification", Message: clean(fe.Err.Error())}
	}
	return &Error{Message: clean(err.Error())}
}

// clean replaces the non-breaking spaces the protobuf library puts in its
// errors (to discourage matching on them) with plain ones.
func clean(s string) string { return strings.ReplaceAll(s, "\u00a0", " ") }

func gvkOf(obj map[string]any) schema.GroupVersionKind {
	av, _ := obj["apiVersion"].(string)
	k, _ := obj["kind"].(string)
	return schema.FromAPIVersionAndKind(av, k)
}

func annotationsOf(obj map[string]any) map[string]string {
	m, _ := obj["metadata"].(map[string]any)
	a, _ := m["annotations"].(map[string]any)
	out := make(map[string]string, len(a))
	for k, v := range a {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func metaString(obj map[string]any, key string) string {
	m, _ := obj["metadata"].(map[string]any)
	s, _ := m[key].(string)
	return s
}

// specOf returns a pointer to the Spec field of obj (a pointer to a struct
// that has one, maybe through an embedded struct), or nil.
func specOf(obj client.Object) any {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	idx, ok := specFields.Load(v.Type())
	if !ok {
		var path []int
		if f, found := v.Type().FieldByName("Spec"); found {
			path = f.Index
		}
		idx, _ = specFields.LoadOrStore(v.Type(), path)
	}
	path := idx.([]int)
	if path == nil {
		return nil
	}
	return v.FieldByIndex(path).Addr().Interface()
}

// specFields caches the index path of each object type's Spec field (nil:
// none): FieldByName allocates as it searches embedded structs.
var specFields sync.Map // reflect.Type → []int

// stamped sets the provenance marker on an expanded object and returns it.
func stamped(obj map[string]any, marker string) map[string]any {
	setAnnotation(obj, task.ExpandedFromAnnotation, marker)
	return obj
}

func setAnnotation(obj map[string]any, k, v string) {
	m, _ := obj["metadata"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		obj["metadata"] = m
	}
	a, _ := m["annotations"].(map[string]any)
	if a == nil {
		a = map[string]any{}
	}
	a[k] = v
	m["annotations"] = a
}

// DecodeObject decodes one JSON object the way Expand expects it, numbers
// kept as json.Number so that integers round-trip exactly (what a
// json.Decoder with UseNumber gives, faster).
func DecodeObject(data []byte) (map[string]any, error) {
	m, err := jsonvalue.DecodeObject(data)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// CheckExpanded reports an object that carries a task template but no
// provenance marker: a skeleton that bypassed the mutating webhook.
func CheckExpanded(annotations map[string]string) *field.Error {
	if _, ok := annotations[task.TemplateAnnotation]; !ok {
		return nil
	}
	if _, ok := annotations[task.ExpandedFromAnnotation]; ok {
		return nil
	}
	return field.Required(field.NewPath("metadata", "annotations").Key(task.ExpandedFromAnnotation),
		"the object carries "+task.TemplateAnnotation+" but was never expanded (is the flyte-admission mutating webhook running?)")
}
