package expand

import (
	"encoding/json"
	"fmt"

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
// estimate is the task's charged size (task.Task.Generated): its buffer
// starts a quarter larger, as the estimates run 0.7-1.15x the encoding.
func encodeFields(v any, out map[string]any, estimate int) error {
	var largest string
	var largestBytes int
	buf, err := jsonenc.AppendMembers(make([]byte, 0, min(estimate+estimate/4+512, maxSizeHint)), v, func(name string, value []byte) {
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
	return nil
}

// maxSizeHint caps the buffer encodeFields starts with: larger expansions
// grow it as they go.
const maxSizeHint = 64 << 10
