package expand

import (
	"encoding/json"
	"slices"
	"sort"

	"github.com/flyte-admission/flyte-admission/internal/jsonenc"
	"github.com/flyte-admission/flyte-admission/internal/jsonvalue"
)

// Op is one RFC 6902 JSON patch operation.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Diff returns the JSON patch that turns a into b (both decoded JSON). Maps are
// diffed key by key in sorted order; lists and scalars are replaced whole.
func Diff(a, b map[string]any) []Op {
	var ops []Op
	path := make([]byte, 0, 128)
	diffMaps(path, a, b, &ops)
	return ops
}

// diffMaps appends the ops turning a into b; path is their parent's JSON
// pointer, extended in place for each key (strings are made only for ops).
func diffMaps(path []byte, a, b map[string]any, ops *[]Op) {
	removed := false
	for k := range a {
		if _, ok := b[k]; !ok {
			removed = true
			break
		}
	}
	if removed {
		for _, k := range sortedKeys(a) {
			if _, ok := b[k]; !ok {
				*ops = append(*ops, Op{Op: "remove", Path: string(appendKey(path, k))})
			}
		}
	}
	for _, k := range sortedKeys(b) {
		bv := b[k]
		p := appendKey(path, k)
		av, ok := a[k]
		if !ok {
			*ops = append(*ops, Op{Op: "add", Path: string(p), Value: bv})
			continue
		}
		if isEmptyObject(av) && isRawObject(bv) {
			// An empty object filled whole (a skeleton's "spec: {}"): one
			// operation, its value kept as encoded.
			*ops = append(*ops, Op{Op: "replace", Path: string(p), Value: bv})
			continue
		}
		av, bv = plain(av), plain(bv)
		am, aok := av.(map[string]any)
		bm, bok := bv.(map[string]any)
		if aok && bok {
			diffMaps(p, am, bm, ops)
			continue
		}
		if !Equal(av, bv) {
			*ops = append(*ops, Op{Op: "replace", Path: string(p), Value: bv})
		}
	}
}

// appendKey appends "/" and k, escaped as RFC 6901 says, to a JSON pointer.
func appendKey(path []byte, k string) []byte {
	path = append(path, '/')
	for i := 0; i < len(k); i++ {
		switch k[i] {
		case '~':
			path = append(path, '~', '0')
		case '/':
			path = append(path, '~', '1')
		default:
			path = append(path, k[i])
		}
	}
	return path
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Equal compares decoded JSON values (raw JSON parts are decoded first).
func Equal(a, b any) bool {
	a, b = plain(a), plain(b)
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !Equal(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !Equal(av[i], bv[i]) {
				return false
			}
		}
		return true
	case json.Number:
		bv, ok := b.(json.Number)
		return ok && av == bv
	case string:
		bv, ok := b.(string)
		return ok && av == bv
	case bool:
		bv, ok := b.(bool)
		return ok && av == bv
	case float64:
		bv, ok := b.(float64)
		return ok && av == bv
	case int64:
		bv, ok := b.(int64)
		return ok && av == bv
	case nil:
		return b == nil
	}
	return false
}

// merge lays the user's object over the generated one. Maps merge key by key;
// elsewhere the user's value wins, unless it equals base (what an earlier
// expansion generated there) or the CRD's default at that path (which the
// apiserver set before admission), in which case the generated value wins.
func merge(gen, user, base any, path string, defaults map[string]any) any {
	if user == nil {
		return gen
	}
	if um, ok := user.(map[string]any); ok && len(um) == 0 {
		if _, ok := gen.(map[string]any); ok || isRawObject(gen) {
			return gen // a skeleton's "spec: {}": what we generate, as it is
		}
	}
	gen, base = plain(gen), plain(base)
	gm, gok := gen.(map[string]any)
	um, uok := user.(map[string]any)
	if gok && uok {
		bm, _ := base.(map[string]any)
		out := make(map[string]any, len(gm)+len(um))
		for k, v := range gm {
			out[k] = v
		}
		for k, uv := range um {
			bv, inBase := bm[k]
			gv, inGen := gm[k]
			if uv == nil && inGen {
				continue // "key:" with no value was not meant to erase what we generate
			}
			if inBase && Equal(uv, bv) {
				if !inGen {
					delete(out, k)
				}
				continue
			}
			if inGen {
				out[k] = merge(gv, uv, bv, path+"."+k, defaults)
			} else {
				out[k] = uv
			}
		}
		return out
	}
	if base != nil && Equal(user, base) {
		return gen
	}
	if d, ok := defaults[path]; ok && Equal(user, d) {
		return gen
	}
	return user
}

// plain decodes a raw JSON part of a generated object; other values are
// returned as they are. Generated parts stay raw until something needs to
// look inside them, so a skeleton's expansion is encoded once.
func plain(v any) any {
	raw, ok := v.(json.RawMessage)
	if !ok {
		return v
	}
	out, err := jsonvalue.Decode(raw)
	if err != nil {
		return v
	}
	return out
}

// Plain returns a copy of obj with every raw JSON part decoded, for callers
// that walk the expanded object.
func Plain(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		v = plain(v)
		if m, ok := v.(map[string]any); ok {
			v = Plain(m)
		}
		out[k] = v
	}
	return out
}

// isRawObject reports an encoded JSON object (a generated part).
func isRawObject(v any) bool {
	raw, ok := v.(json.RawMessage)
	return ok && len(raw) > 0 && raw[0] == '{'
}

// MarshalPatch encodes ops as a JSON patch. Raw generated parts are written as
// they are (encoding/json would validate and compact them again); other
// values as json.Marshal writes them.
func MarshalPatch(ops []Op) ([]byte, error) {
	size := 2
	for _, op := range ops {
		size += len(`{"op":"","path":"","value":}`) + len(op.Op) + len(op.Path)
		if raw, ok := op.Value.(json.RawMessage); ok {
			size += len(raw)
		} else {
			size += 64
		}
	}
	buf := append(patchBuffer(size), '[')
	for i, op := range ops {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendOp(buf, op); err != nil {
			return nil, err
		}
	}
	return append(buf, ']'), nil
}

func appendOp(buf []byte, op Op) ([]byte, error) {
	buf = append(buf, `{"op":"`...)
	buf = append(buf, op.Op...)
	buf = append(buf, `","path":`...)
	buf = jsonenc.AppendString(buf, op.Path)
	if op.Op != "remove" {
		buf = append(buf, `,"value":`...)
		if raw, ok := op.Value.(json.RawMessage); ok {
			buf = append(buf, raw...)
		} else {
			var err error
			if buf, err = jsonenc.Append(buf, op.Value); err != nil {
				return nil, err
			}
		}
	}
	return append(buf, '}'), nil
}

// framePatch puts the /spec operation of ops first, where frame (see
// encodeFramed) already holds it, and writes the others after it. If ops
// does not hold that very operation, or holds a value it cannot encode, the
// patch is left to MarshalPatch (nil).
func framePatch(frame []byte, head int, op string, ops []Op) ([]Op, []byte) {
	i := slices.IndexFunc(ops, func(o Op) bool {
		raw, ok := o.Value.(json.RawMessage)
		return o.Path == "/spec" && o.Op == op && ok && len(raw) == len(frame)-head && &raw[0] == &frame[head]
	})
	if i < 0 {
		return ops, nil
	}
	if i > 0 {
		ops = append(append([]Op{ops[i]}, ops[:i]...), ops[i+1:]...)
	}
	buf := append(frame, '}')
	for _, op := range ops[1:] {
		var err error
		if buf, err = appendOp(append(buf, ','), op); err != nil {
			return ops, nil
		}
	}
	return ops, append(buf, ']')
}

// PatchJSON returns Patch encoded as a JSON patch (see MarshalPatch).
func (r *Result) PatchJSON() ([]byte, error) {
	if r.framed != nil {
		return r.framed, nil
	}
	return MarshalPatch(r.Patch)
}
