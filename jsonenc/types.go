package jsonenc

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// encoder appends the encoding of v, a value of the type it was built for, to
// e.buf. addr reports whether encoding/json would find v addressable — reached
// through a pointer, a slice element, or a field or element of such a value —
// which decides whether methods with pointer receivers apply. It is not
// v.CanAddr(): map values are copied to addressable scratch space here, and
// still count as not addressable.
type encoder func(e *encState, v reflect.Value, addr bool)

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	numberType        = reflect.TypeFor[json.Number]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
)

// encoders caches the encoder of each type (reflect.Type → encoder).
var encoders sync.Map

// encoderOf returns t's encoder, building it on first use. A recursive type
// reaches itself while its encoder is being built; it then gets a stand-in
// that waits for the real encoder and calls it.
func encoderOf(t reflect.Type) encoder {
	if f, ok := encoders.Load(t); ok {
		return f.(encoder)
	}
	var (
		built sync.WaitGroup
		real  encoder
	)
	built.Add(1)
	standIn := encoder(func(e *encState, v reflect.Value, addr bool) {
		built.Wait()
		real(e, v, addr)
	})
	if f, loaded := encoders.LoadOrStore(t, standIn); loaded {
		return f.(encoder)
	}
	defer func() {
		if real == nil {
			// Building panicked: leave every value of t to encoding/json
			// rather than have the stand-in wait for ever.
			real = encodeUnsupported
		}
		encoders.Store(t, real)
		built.Done()
	}()
	real = newEncoder(t, true)
	return real
}

// newEncoder builds t's encoder with encoding/json's precedence: MarshalJSON,
// then MarshalText, then t's kind. A method with a pointer receiver applies
// only to addressable values (when byAddr is set the choice is made per
// value; the encoder for the other values is built with byAddr unset).
func newEncoder(t reflect.Type, byAddr bool) encoder {
	ptrOnly := t.Kind() != reflect.Pointer && byAddr
	if fast, ok := knownMarshalers[t]; ok {
		// Their MarshalJSON methods have value receivers.
		return func(e *encState, v reflect.Value, _ bool) {
			if !fast(e, v) {
				callMarshalJSON(e, marshalerOf(v))
			}
		}
	}
	switch {
	case ptrOnly && reflect.PointerTo(t).Implements(marshalerType):
		return eitherByAddr(callMarshalJSONOnAddr, newEncoder(t, false))
	case t == rawMessageType:
		return encodeRawMessage
	case t.Implements(marshalerType):
		return newMarshalerEncoder(t)
	case ptrOnly && reflect.PointerTo(t).Implements(textMarshalerType):
		return eitherByAddr(callMarshalTextOnAddr, newEncoder(t, false))
	case t.Implements(textMarshalerType):
		return newTextMarshalerEncoder(t)
	}
	switch t.Kind() {
	case reflect.Bool:
		return encodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return encodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return encodeUint
	case reflect.Float32:
		return encodeFloat32
	case reflect.Float64:
		return encodeFloat64
	case reflect.String:
		if t == numberType {
			return encodeNumber
		}
		return encodeString
	case reflect.Interface:
		return encodeInterface
	case reflect.Pointer:
		return newPointerEncoder(t)
	case reflect.Slice:
		return newSliceEncoder(t)
	case reflect.Array:
		return newArrayEncoder(t)
	case reflect.Map:
		return newMapEncoder(t)
	case reflect.Struct:
		return newStructEncoder(t)
	}
	// Complex numbers, channels, functions and unsafe pointers: an error.
	return encodeUnsupported
}

func eitherByAddr(onAddr, otherwise encoder) encoder {
	return func(e *encState, v reflect.Value, addr bool) {
		if addr {
			onAddr(e, v, addr)
		} else {
			otherwise(e, v, addr)
		}
	}
}

func encodeUnsupported(*encState, reflect.Value, bool) { giveUp() }

// delegate encodes v with json.Marshal, for the few kinds of value this
// package leaves to encoding/json. An addressable value is passed by its
// address so that encoding/json sees it as addressable too.
func delegate(e *encState, v reflect.Value, addr bool) {
	var x any
	if addr {
		x = v.Addr().Interface()
	} else {
		x = v.Interface()
	}
	b, err := json.Marshal(x)
	if err != nil {
		giveUp()
	}
	e.buf = append(e.buf, b...)
}

// marshalerOf returns v's json.Marshaler without copying v to the heap when
// it can: through v's address, whose method set includes v's.
func marshalerOf(v reflect.Value) json.Marshaler {
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface && v.CanAddr() {
		v = v.Addr()
	}
	return v.Interface().(json.Marshaler)
}

func textMarshalerOf(v reflect.Value) encoding.TextMarshaler {
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface && v.CanAddr() {
		v = v.Addr()
	}
	return v.Interface().(encoding.TextMarshaler)
}

// newMarshalerEncoder is for a type whose method set has MarshalJSON. A nil
// pointer or interface is null without a call.
func newMarshalerEncoder(t reflect.Type) encoder {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		var fast func(*encState, reflect.Value) bool
		if t.Kind() == reflect.Pointer {
			fast = knownMarshalers[t.Elem()]
		}
		return func(e *encState, v reflect.Value, _ bool) {
			if v.IsNil() {
				e.buf = append(e.buf, "null"...)
				return
			}
			if fast == nil || !fast(e, v.Elem()) {
				callMarshalJSON(e, marshalerOf(v))
			}
		}
	}
	return func(e *encState, v reflect.Value, _ bool) { callMarshalJSON(e, marshalerOf(v)) }
}

func callMarshalJSONOnAddr(e *encState, v reflect.Value, _ bool) {
	callMarshalJSON(e, v.Addr().Interface().(json.Marshaler))
}

func callMarshalJSON(e *encState, m json.Marshaler) {
	b, err := m.MarshalJSON()
	if err != nil {
		giveUp()
	}
	e.appendMarshaled(b)
}

// encodeRawMessage is RawMessage's MarshalJSON (nil is null, otherwise the
// bytes themselves) without the call, which would copy the slice header to
// the heap.
func encodeRawMessage(e *encState, v reflect.Value, _ bool) {
	if v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return
	}
	e.appendMarshaled(v.Bytes())
}

func newTextMarshalerEncoder(t reflect.Type) encoder {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return func(e *encState, v reflect.Value, _ bool) {
			if v.IsNil() {
				e.buf = append(e.buf, "null"...)
				return
			}
			callMarshalText(e, textMarshalerOf(v))
		}
	}
	return func(e *encState, v reflect.Value, _ bool) { callMarshalText(e, textMarshalerOf(v)) }
}

func callMarshalTextOnAddr(e *encState, v reflect.Value, _ bool) {
	callMarshalText(e, v.Addr().Interface().(encoding.TextMarshaler))
}

func callMarshalText(e *encState, m encoding.TextMarshaler) {
	b, err := m.MarshalText()
	if err != nil {
		giveUp()
	}
	e.buf = appendString(e.buf, b)
}

func encodeBool(e *encState, v reflect.Value, _ bool) {
	if v.Bool() {
		e.buf = append(e.buf, "true"...)
	} else {
		e.buf = append(e.buf, "false"...)
	}
}

func encodeInt(e *encState, v reflect.Value, _ bool) {
	e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
}

func encodeUint(e *encState, v reflect.Value, _ bool) {
	e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
}

func encodeFloat32(e *encState, v reflect.Value, _ bool) {
	e.buf = appendFloat(e.buf, v.Float(), 32)
}

func encodeFloat64(e *encState, v reflect.Value, _ bool) {
	e.buf = appendFloat(e.buf, v.Float(), 64)
}

func encodeString(e *encState, v reflect.Value, _ bool) {
	e.buf = appendString(e.buf, v.String())
}

func encodeNumber(e *encState, v reflect.Value, _ bool) {
	e.buf = appendNumber(e.buf, json.Number(v.String()))
}

// encodeInterface encodes the value inside an interface, by its own type and
// as not addressable; a nil interface is null.
func encodeInterface(e *encState, v reflect.Value, _ bool) {
	if v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return
	}
	v = v.Elem()
	// The common dynamic types of decoded JSON skip the cache lookup.
	switch v.Kind() {
	case reflect.String:
		if v.Type() == stringType {
			e.buf = appendString(e.buf, v.String())
			return
		}
	case reflect.Float64:
		if v.Type() == float64Type {
			e.buf = appendFloat(e.buf, v.Float(), 64)
			return
		}
	case reflect.Bool:
		if v.Type() == boolType {
			encodeBool(e, v, false)
			return
		}
	}
	e.enter()
	encoderOf(v.Type())(e, v, false)
	e.depth--
}

var (
	stringType  = reflect.TypeFor[string]()
	float64Type = reflect.TypeFor[float64]()
	boolType    = reflect.TypeFor[bool]()
)

// enter counts one more level of nesting, handing values nested too deeply
// (or cyclic) to encoding/json.
func (e *encState) enter() {
	e.depth++
	if e.depth > maxDepth {
		giveUp()
	}
}

func newPointerEncoder(t reflect.Type) encoder {
	elem := encoderOf(t.Elem())
	return func(e *encState, v reflect.Value, _ bool) {
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return
		}
		e.enter()
		elem(e, v.Elem(), true)
		e.depth--
	}
}

func newSliceEncoder(t reflect.Type) encoder {
	if t.Elem().Kind() == reflect.Uint8 {
		pe := reflect.PointerTo(t.Elem())
		if !pe.Implements(marshalerType) && !pe.Implements(textMarshalerType) {
			return encodeBytes
		}
	}
	if t.Elem().Kind() == reflect.String && isPlainString(t.Elem()) {
		return encodeStrings
	}
	elem := encoderOf(t.Elem())
	return func(e *encState, v reflect.Value, _ bool) {
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return
		}
		e.enter()
		e.buf = append(e.buf, '[')
		for i, n := 0, v.Len(); i < n; i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			elem(e, v.Index(i), true)
		}
		e.buf = append(e.buf, ']')
		e.depth--
	}
}

// isPlainString reports whether values of t, a string kind, are encoded as
// JSON strings of their contents, whether addressable or not.
func isPlainString(t reflect.Type) bool {
	return t != numberType &&
		!t.Implements(marshalerType) && !reflect.PointerTo(t).Implements(marshalerType) &&
		!t.Implements(textMarshalerType) && !reflect.PointerTo(t).Implements(textMarshalerType)
}

// encodeStrings encodes a slice of plain strings.
func encodeStrings(e *encState, v reflect.Value, _ bool) {
	if v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return
	}
	e.buf = append(e.buf, '[')
	for i, n := 0, v.Len(); i < n; i++ {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, v.Index(i).String())
	}
	e.buf = append(e.buf, ']')
}

// encodeBytes encodes a byte slice as a string of its standard base64.
func encodeBytes(e *encState, v reflect.Value, _ bool) {
	if v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return
	}
	e.buf = append(e.buf, '"')
	e.buf = base64.StdEncoding.AppendEncode(e.buf, v.Bytes())
	e.buf = append(e.buf, '"')
}

// newArrayEncoder: an array's elements are addressable when it is.
func newArrayEncoder(t reflect.Type) encoder {
	elem := encoderOf(t.Elem())
	return func(e *encState, v reflect.Value, addr bool) {
		e.buf = append(e.buf, '[')
		for i, n := 0, v.Len(); i < n; i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			elem(e, v.Index(i), addr)
		}
		e.buf = append(e.buf, ']')
	}
}

// mapScratch is the space one encoding of a map uses: an iterator, a key
// holder, the entries to sort and, unless the values are plain strings, a
// slice the values are copied into. Pooled per map type.
type mapScratch struct {
	iter    reflect.MapIter
	key     reflect.Value // addressable, of the key type
	val     reflect.Value // addressable, of the value type (plain strings)
	vals    reflect.Value // addressable slice of the value type (other values)
	entries []mapEntry
}

type mapEntry struct {
	key string
	str string // the value, when values are plain strings
	i   int    // the value's index in vals, otherwise
}

// newMapEncoder: maps whose keys are strings are encoded here, sorted by key;
// those with integer or TextMarshaler keys are left to encoding/json.
func newMapEncoder(t reflect.Type) encoder {
	if t.Key().Kind() != reflect.String {
		return delegate
	}
	kt, vt := t.Key(), t.Elem()
	plain := vt.Kind() == reflect.String && isPlainString(vt)
	var elem encoder
	if !plain {
		elem = encoderOf(vt)
	}
	pool := &sync.Pool{New: func() any {
		s := &mapScratch{key: reflect.New(kt).Elem()}
		if plain {
			s.val = reflect.New(vt).Elem()
		} else {
			s.vals = reflect.New(reflect.SliceOf(vt)).Elem()
		}
		return s
	}}
	return func(e *encState, v reflect.Value, _ bool) {
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return
		}
		e.enter()
		n := v.Len()
		s := pool.Get().(*mapScratch)
		if !plain {
			if s.vals.Cap() < n {
				s.vals.Grow(n - s.vals.Len())
			}
			s.vals.SetLen(n)
		}
		s.iter.Reset(v)
		for i := 0; s.iter.Next(); i++ {
			if !plain && i == n { // the map grew under us: a data race
				giveUp()
			}
			s.key.SetIterKey(&s.iter)
			ent := mapEntry{key: s.key.String(), i: i}
			if plain {
				s.val.SetIterValue(&s.iter)
				ent.str = s.val.String()
			} else {
				s.vals.Index(i).SetIterValue(&s.iter)
			}
			s.entries = append(s.entries, ent)
		}
		s.iter.Reset(reflect.Value{})
		slices.SortFunc(s.entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
		e.buf = append(e.buf, '{')
		for j := range s.entries {
			ent := &s.entries[j]
			if j > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, ent.key)
			e.buf = append(e.buf, ':')
			if plain {
				e.buf = appendString(e.buf, ent.str)
			} else {
				elem(e, s.vals.Index(ent.i), false)
			}
		}
		e.buf = append(e.buf, '}')
		e.depth--
		// Drop the references to v's keys and values before pooling.
		clear(s.entries)
		s.entries = s.entries[:0]
		if !plain {
			s.vals.Clear()
		}
		pool.Put(s)
	}
}
