// Package pbjson decodes protobuf JSON with exactly the results of
// protojson.UnmarshalOptions{DiscardUnknown: true}, several times faster.
//
// A fast path reads the bytes once with a small tokenizer of its own and sets
// fields through protoreflect. It handles only the common, unambiguous subset
// of the format (see decodeFast); on anything else it gives up, resets the
// message and lets protojson decode the same input, so errors are always
// protojson's own and a message is never left half-written.
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
	if decodeFast(data, m) {
		return nil
	}
	return fallback.Unmarshal(data, m)
}

// decodeFast decodes data into m on the fast path and reports whether it did.
// When it reports false, m has been reset (if it could be) and the caller must
// decode with protojson instead. Strings in m may share the memory of one copy
// of data.
func decodeFast(data []byte, m proto.Message) bool {
	if m == nil {
		return false
	}
	rm := m.ProtoReflect()
	if !rm.IsValid() {
		return false
	}
	proto.Reset(m)
	d := decoder{s: string(data)}
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
