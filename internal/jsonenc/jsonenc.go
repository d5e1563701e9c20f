// Package jsonenc encodes Go values to JSON byte for byte as encoding/json's
// Marshal does, appending to a caller's buffer and, on the common path,
// allocating nothing: per-type encoders are built once with reflect and
// cached, map entries are sorted on the stack or in pooled space instead of
// being copied one by one, a MarshalJSON result that is a single string,
// number or literal is checked in one pass instead of being re-scanned, and
// resource.Quantity, intstr.IntOrString and metav1.Time are written without
// calling their (allocating) MarshalJSON methods.
//
// Whatever this package does not encode itself (maps with non-string keys,
// structs with `,string` fields, very deep nesting), and any error at all, is
// handed to encoding/json, so the output and the errors are always its own.
package jsonenc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// Append appends the JSON encoding of v to buf, byte for byte as json.Marshal(v) writes it.
// On error it returns buf unchanged and the error json.Marshal(v) returns.
func Append(buf []byte, v any) ([]byte, error) {
	start := len(buf)
	e := statePool.Get().(*encState)
	out, ok := e.run(buf, v)
	e.depth = 0
	if e.tmp.Cap() > maxPooledScratch {
		e.tmp = bytes.Buffer{}
	}
	statePool.Put(e)
	if ok {
		return out, nil
	}
	return fallback(buf[:start], v)
}

// fallback encodes v with encoding/json: Append's answer whenever its own
// encoders stopped, so that results and errors are encoding/json's own.
func fallback(buf []byte, v any) ([]byte, error) {
	fallbacks.Add(1)
	b, err := json.Marshal(v)
	if err != nil {
		return buf, err
	}
	return append(buf, b...), nil
}

// fallbacks counts the calls of Append that encoding/json answered; the tests
// read it to check that the values they care about are encoded natively.
var fallbacks atomic.Int64

// maxDepth bounds the nesting of pointers, maps, slices and interfaces that
// Append follows itself; deeper values (or cyclic ones) go to encoding/json,
// which detects cycles.
const maxDepth = 1000

// maxPooledScratch is the largest scratch buffer kept for the next call.
const maxPooledScratch = 64 << 10

// encState is one call's bookkeeping, pooled between calls.
type encState struct {
	depth int
	tmp   bytes.Buffer // json.Compact's output for MarshalJSON results that need it
	// record, when set, is taken by the next struct encoder, which notes
	// where each of its members is in spans (AppendMembers).
	record   bool
	recorded bool
	spans    []memberSpan
}

// memberSpan is where one member of an object is in the output.
type memberSpan struct {
	name       string
	start, end int
}

var statePool = sync.Pool{New: func() any { return new(encState) }}

// stop is the panic value with which an encoder abandons the native encoding.
type stop struct{}

// run appends v's encoding to b and reports whether it finished. Any panic,
// ours or one from a method of v, ends the native attempt: fallback then
// reruns the encoding in encoding/json, which returns its error or panics in
// turn.
func (e *encState) run(b []byte, v any) (_ []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, mine := r.(stop); !mine {
				panics.Add(1)
			}
			ok = false
		}
	}()
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return append(b, "null"...), true
	}
	return encoderOf(rv.Type())(e, b, rv, false), true
}

// panics counts native attempts ended by a panic other than stop; the tests
// check it stays zero where encoding/json does not panic.
var panics atomic.Int64

// giveUp abandons the native encoding of the current Append call.
func giveUp() { panic(stop{}) }

// AppendMembers is Append for a value that encodes to a JSON object (a
// struct or a pointer to one), which then calls member with each member's
// name and encoded value (a slice of the returned buffer, or of a copy) in
// order, so that a caller can take the members apart without scanning them.
func AppendMembers(buf []byte, v any, member func(name string, value []byte)) ([]byte, error) {
	start := len(buf)
	e := statePool.Get().(*encState)
	e.record = isStruct(reflect.TypeOf(v))
	out, ok := e.run(buf, v)
	if ok && e.recorded {
		for _, m := range e.spans {
			member(m.name, out[m.start:m.end:m.end])
		}
	}
	recorded := e.recorded
	e.depth, e.record, e.recorded, e.spans = 0, false, false, e.spans[:0]
	if e.tmp.Cap() > maxPooledScratch {
		e.tmp = bytes.Buffer{}
	}
	statePool.Put(e)
	if ok && recorded {
		return out, nil
	}
	// encoding/json wrote it, or the value had no struct encoder of ours
	// (delegated, or a Marshaler): take the members from the text.
	if !ok {
		var err error
		if out, err = fallback(buf[:start], v); err != nil {
			return out, err
		}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(out[start:], &members); err != nil {
		return buf[:start], fmt.Errorf("jsonenc: %T does not encode to an object: %w", v, err)
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		raw := members[name]
		member(name, raw[:len(raw):len(raw)])
	}
	return out, nil
}

// isStruct reports whether t is a struct or a pointer (to a pointer …) to one.
func isStruct(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.Kind() == reflect.Struct
}

// AppendString appends s as json.Marshal writes a string; unlike Append(buf,
// s) it does not box s into an interface, which allocates.
func AppendString(buf []byte, s string) []byte { return appendString(buf, s) }
