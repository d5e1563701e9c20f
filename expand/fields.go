package expand

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/flyte-admission/flyte-admission/jsonenc"
)

// encodeFields encodes v (a generated spec) as json.Marshal would and puts
// each member of the resulting object into out as raw JSON, so that merging
// and diffing can take the fields one by one without encoding them again.
func encodeFields(v any, out map[string]any) error {
	hint := sizeHint(reflect.TypeOf(v))
	buf, err := jsonenc.Append(make([]byte, 0, max(hint.Load(), 1024)), v)
	if err != nil {
		return err
	}
	if n := int64(len(buf)); n > hint.Load() && n <= maxSizeHint {
		hint.Store(n)
	}
	return splitObject(buf, out)
}

// maxSizeHint caps the buffer encodeFields starts with.
const maxSizeHint = 64 << 10

// sizeHints holds, per spec type, the largest encoding seen (up to
// maxSizeHint), which encodeFields allocates at once rather than growing its
// buffer step by step.
var sizeHints sync.Map // reflect.Type → *atomic.Int64

func sizeHint(t reflect.Type) *atomic.Int64 {
	if h, ok := sizeHints.Load(t); ok {
		return h.(*atomic.Int64)
	}
	h, _ := sizeHints.LoadOrStore(t, new(atomic.Int64))
	return h.(*atomic.Int64)
}

// splitObject puts the members of data, a compact JSON object as jsonenc
// writes it, into out; each value is a slice of data that cannot grow into
// the next.
func splitObject(data []byte, out map[string]any) error {
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return fmt.Errorf("split encoded object: not an object: %.40q", data)
	}
	for i := 1; i < len(data)-1; {
		if data[i] == ',' {
			i++
		}
		keyEnd, escaped := stringEnd(data, i)
		var key string
		if escaped {
			if err := json.Unmarshal(data[i:keyEnd], &key); err != nil {
				return fmt.Errorf("split encoded object: key at byte %d: %w", i, err)
			}
		} else {
			key = fieldNames.intern(data[i+1 : keyEnd-1])
		}
		start := keyEnd + 1 // past the colon
		end := valueEnd(data, start)
		out[key] = json.RawMessage(data[start:end:end])
		i = end
	}
	return nil
}

// stringEnd returns the index just past the JSON string starting at data[i]
// (a quote), and whether it has escapes.
func stringEnd(data []byte, i int) (int, bool) {
	for j := i + 1; ; {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return len(data), true
		}
		q := j + k
		n := 0 // backslashes just before the quote: an odd number escape it
		for p := q - 1; p > i && data[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, bytes.IndexByte(data[i+1:q], '\\') >= 0
		}
		j = q + 1
	}
}

// valueEnd returns the index just past the compact JSON value starting at
// data[i]: the next comma or closing bracket outside strings at its depth.
func valueEnd(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			i, _ = stringEnd(data, i)
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// names interns the member names of generated specs: they are the json names
// of a few Go types, the same for every object.
type names struct {
	mu sync.RWMutex
	m  map[string]string
}

// maxNames bounds the interned names (a spec type has a few dozen fields).
const maxNames = 4096

var fieldNames = names{m: map[string]string{}}

func (n *names) intern(b []byte) string {
	n.mu.RLock()
	s, ok := n.m[string(b)] // a lookup with a converted key does not allocate
	n.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	n.mu.Lock()
	if len(n.m) < maxNames {
		n.m[s] = s
	}
	n.mu.Unlock()
	return s
}
