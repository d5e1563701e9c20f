package task

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// BinaryTemplatePrefix starts a task-template annotation that carries the
// TaskTemplate as binary protobuf, base64-encoded (standard alphabet, with
// padding; ASCII whitespace after the prefix is ignored, so the value may be
// wrapped in a YAML block). No JSON text starts this way, and no YAML
// template does either: `base64` is not a TaskTemplate field, so a YAML
// mapping with that key carried nothing of the task.
const BinaryTemplatePrefix = "base64:"

// maxBinaryDepth bounds the nesting of messages in a binary template, as
// protobuf-go's own default recursion limit does.
const maxBinaryDepth = 10000

// isBinaryTemplate reports whether s (trimmed) is a binary template.
func isBinaryTemplate(s string) bool {
	return strings.HasPrefix(s, BinaryTemplatePrefix)
}

// decodeBinaryTemplate decodes a BinaryTemplatePrefix value within the same
// limits as the JSON form: at most MaxAnnotationBytes of text and
// MaxTemplateValues values, counted on the wire before anything is
// allocated per value. It returns the template, the size of the binary and
// the values counted.
func decodeBinaryTemplate(s string) (*core.TaskTemplate, int, int, error) {
	payload := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, strings.TrimPrefix(s, BinaryTemplatePrefix))
	bin, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("decode base64 after %q: %w", BinaryTemplatePrefix, err)
	}
	md := (&core.TaskTemplate{}).ProtoReflect().Descriptor()
	values, err := countWireValues(bin, md, 0, MaxTemplateValues)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("decode binary task template: %w", err)
	}
	if values > MaxTemplateValues {
		return nil, 0, 0, fmt.Errorf("the template has more than %d values", MaxTemplateValues)
	}
	tt := &core.TaskTemplate{}
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(bin, tt); err != nil {
		return nil, 0, 0, fmt.Errorf("decode binary task template: %w", err)
	}
	return tt, len(bin), values, nil
}

// countWireValues counts the values of b, a message of type md in the
// protobuf wire format, stopping once the count passes limit: every field
// occurrence is one (but the key of a map entry, as in JSON), every element
// of a packed list one per byte at most, and messages are counted inside.
// Malformed wire data is an error.
func countWireValues(b []byte, md protoreflect.MessageDescriptor, depth, limit int) (int, error) {
	if depth > maxBinaryDepth {
		return 0, fmt.Errorf("messages nested more than %d deep", maxBinaryDepth)
	}
	n := 0
	for len(b) > 0 && n <= limit {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return 0, protowire.ParseError(tagLen)
		}
		b = b[tagLen:]
		valLen := protowire.ConsumeFieldValue(num, typ, b)
		if valLen < 0 {
			return 0, protowire.ParseError(valLen)
		}
		val := b[:valLen]
		b = b[valLen:]
		fd := md.Fields().ByNumber(num)
		if md.IsMapEntry() && num == 1 {
			continue
		}
		n++
		if fd == nil || typ != protowire.BytesType {
			continue
		}
		inner, _ := protowire.ConsumeBytes(val)
		switch {
		case fd.Message() != nil:
			m, err := countWireValues(inner, fd.Message(), depth+1, limit-n)
			if err != nil {
				return 0, err
			}
			n += m
		case fd.IsList() && fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.BytesKind:
			n += len(inner) // packed scalars: at most one per byte
		}
	}
	return n, nil
}

// EncodeBinaryTemplate is the BinaryTemplatePrefix form of tt, deterministic
// for one protobuf-go release.
func EncodeBinaryTemplate(tt *core.TaskTemplate) (string, error) {
	bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt)
	if err != nil {
		return "", fmt.Errorf("encode task template: %w", err)
	}
	return BinaryTemplatePrefix + base64.StdEncoding.EncodeToString(bin), nil
}
