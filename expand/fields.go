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
	_, err := encodeSpec(make([]byte, 0, bufferSize(estimate, 0)), v, func(name string, value []byte) {
		out[name] = json.RawMessage(value)
	})
	return err
}

// encodeFramed encodes v (a generated spec) whole right after the head of
// the patch operation op (add or replace) of /spec: the patch is then
// written around the encoding instead of copying it, which was a fifth of
// the bytes a small expansion allocated. It returns the buffer and where the
// spec starts in it.
func encodeFramed(v any, op string, estimate int) ([]byte, int, error) {
	var head string
	switch op {
	case "add":
		head = `[{"op":"add","path":"/spec","value":`
	case "replace":
		head = `[{"op":"replace","path":"/spec","value":`
	default:
		return nil, 0, fmt.Errorf("frame a patch: unknown operation %q", op)
	}
	buf := append(patchBuffer(bufferSize(estimate, len(head)+metadataOpsBytes)), head...)
	buf, err := encodeSpec(buf, v, nil)
	return buf, len(head), err
}

// encodeSpec appends v's encoding to buf, calling member (if set) with each
// of its members, and refuses one larger than the apiserver stores.
func encodeSpec(buf []byte, v any, member func(name string, value []byte)) ([]byte, error) {
	var largest string
	var largestBytes int
	start := len(buf)
	buf, err := jsonenc.AppendMembers(buf, v, func(name string, value []byte) {
		if member != nil {
			member(name, value)
		}
		if len(value) > largestBytes {
			largest, largestBytes = name, len(value)
		}
	})
	if err != nil {
		return nil, err
	}
	if n := len(buf) - start; n > task.MaxObjectBytes {
		return nil, &tooLarge{member: largest, bytes: n, memberBytes: largestBytes}
	}
	return buf, nil
}

// bufferSize is the capacity a spec's buffer starts with: the estimate and a
// quarter, plus extra, at most maxSizeHint (larger ones grow as they go).
func bufferSize(estimate, extra int) int {
	return min(estimate+estimate/4+512, maxSizeHint) + extra
}

// metadataOpsBytes is room for the metadata operations a framed patch
// appends after the spec (labels, annotations, the marker).
const metadataOpsBytes = 1024

// maxSizeHint caps the buffer encodeFields starts with: larger expansions
// grow it as they go.
const maxSizeHint = 64 << 10
