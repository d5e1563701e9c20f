package expand

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/flyte-admission/flyte-admission/internal/jsonenc"
	"github.com/flyte-admission/flyte-admission/task"
)

// tooLarge is a generated spec larger than the apiserver stores.
type tooLarge struct {
	member             string
	bytes, memberBytes int
}

func (e *tooLarge) Error() string {
	return fmt.Sprintf("the expansion is %d bytes (%d of them here), more than the %d the apiserver stores per object",
		e.bytes, e.memberBytes, task.MaxObjectBytes)
}

// encodeFields encodes v (a generated spec) as json.Marshal would and puts
// each member of the resulting object into out as raw JSON, so that merging
// and diffing can take the fields one by one without encoding them again.
func encodeFields(v any, out map[string]any) error {
	hint := sizeHint(reflect.TypeOf(v))
	var largest string
	var largestBytes int
	buf, err := jsonenc.AppendMembers(make([]byte, 0, max(hint.Load(), 1024)), v, func(name string, value []byte) {
		out[name] = json.RawMessage(value)
		if len(value) > largestBytes {
			largest, largestBytes = name, len(value)
		}
	})
	if err != nil {
		return err
	}
	if len(buf) > task.MaxObjectBytes {
		return &tooLarge{member: largest, bytes: len(buf), memberBytes: largestBytes}
	}
	if n := int64(len(buf)); n > hint.Load() && n <= maxSizeHint {
		hint.Store(n)
	}
	return nil
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
