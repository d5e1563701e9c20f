// Package pbjson decodes protobuf JSON with exactly the results of
// protojson.UnmarshalOptions{DiscardUnknown: true}, in well under half its time.
//
// A fast path reads the bytes once with a small tokenizer of its own and sets
// fields through protoreflect. It handles only the common, unambiguous subset
// of the format (see decodeFast); on anything else it gives up, resets the
// message and lets protojson decode the same input, so errors are always
// protojson's own and a message is never left half-written.
//
// The fast path gives the decoded strings slices of the input (Unmarshal
// copies it once first; UnmarshalString needs no copy), so a decoded message
// keeps the input alive; values of a Struct
// are allocated in blocks, likewise kept alive together.
package pbjson

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// fallback is the decoder whose results the fast path reproduces.
var fallback = protojson.UnmarshalOptions{DiscardUnknown: true}

// Unmarshal decodes protobuf JSON into m exactly as
// protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal does.
func Unmarshal(data []byte, m proto.Message) error {
	if decodeFast(string(data), m) {
		return nil
	}
	return fallback.Unmarshal(data, m)
}

// UnmarshalString is Unmarshal for JSON held in a string, which the decoded
// strings share instead of a copy.
func UnmarshalString(s string, m proto.Message) error {
	if decodeFast(s, m) {
		return nil
	}
	return fallback.Unmarshal([]byte(s), m)
}

// decodeFast decodes data into m on the fast path and reports whether it did.
// When it reports false, m has been reset (if it could be) and the caller must
// decode with protojson instead.
//
// It takes objects of known fields (by JSON or proto name) and unknown ones
// (skipped, their syntax checked); strings with any escapes; true and false;
// integers as plain literals or strings holding one, within range; floats as
// plain numbers; enums by known name; lists; maps with string keys; null for
// "unset"; Struct, ListValue and Value; Durations like "-1.5s"; and the
// wrappers but BytesValue. It gives up on anything else, among which: syntax
// errors, bytes, Any, Timestamp, FieldMask, Empty, NullValue, enum numbers and
// unknown enum names, exponents or fractions in integers, NaN and Infinity,
// quoted floats, a field given twice (by either name), a second member of a
// oneof, a map key given twice, keys starting with '[' or '@', null in a list
// or map other than as a Value, trailing data, nesting deeper than maxDepth,
// and missing required fields.
func decodeFast(data string, m proto.Message) bool {
	if m == nil {
		return false
	}
	rm := m.ProtoReflect()
	if !rm.IsValid() {
		return false
	}
	proto.Reset(m)
	d := decoder{s: data}
	d.space()
	ok := d.message(rm, infoFor(rm.Descriptor()))
	if ok {
		d.space()
		ok = d.i == len(d.s) && proto.CheckInitialized(m) == nil
	}
	if !ok {
		proto.Reset(m)
	}
	return ok
}

// Member returns the JSON text of the top-level member name of the object
// s, as written (the first, if it is given twice), when s is an object the
// fast path reads through; else false.
func Member(s, name string) (string, bool) {
	d := decoder{s: s}
	d.space()
	if !d.enter('{') || d.closeEmpty('}') {
		return "", false
	}
	for {
		key, esc, ok := d.rawString()
		if !ok || !d.colon() {
			return "", false
		}
		start := d.i
		if !d.skip() {
			return "", false
		}
		if !esc && key == name || esc && string(d.buf) == name {
			return s[start:d.i], true
		}
		more, ok := d.next('}')
		if !ok || !more {
			return "", false
		}
	}
}
