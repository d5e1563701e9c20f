package jsonenc

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	corev1 "k8s.io/api/core/v1"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// encoder appends the encoding of v, a value of the type it was built for, to
// b and returns the extended buffer. (The buffer is passed along rather than
// kept in e: an append then writes no pointer to the heap, which costs a
// write barrier while the garbage collector runs.)
//
// addr reports whether encoding/json would find v addressable — reached
// through a pointer, a slice element, or a field or element of such a value —
// which decides whether methods with pointer receivers apply. It is not
// v.CanAddr(): map values are copied to addressable scratch space here, and
// still count as not addressable.
type encoder func(e *encState, b []byte, v reflect.Value, addr bool) []byte

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
	standIn := encoder(func(e *encState, b []byte, v reflect.Value, addr bool) []byte {
		built.Wait()
		return real(e, b, v, addr)
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
		return func(e *encState, b []byte, v reflect.Value, _ bool) []byte {
			if out, ok := fast(b, v); ok {
				return out
			}
			return e.callMarshalJSON(b, marshalerOf(v))
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
	return func(e *encState, b []byte, v reflect.Value, addr bool) []byte {
		if addr {
			return onAddr(e, b, v, addr)
		}
		return otherwise(e, b, v, addr)
	}
}

func encodeUnsupported(*encState, []byte, reflect.Value, bool) []byte {
	giveUp()
	return nil
}

// delegate encodes v with json.Marshal, for the few kinds of value this
// package leaves to encoding/json. An addressable value is passed by its
// address so that encoding/json sees it as addressable too.
func delegate(_ *encState, b []byte, v reflect.Value, addr bool) []byte {
	var x any
	if addr {
		x = v.Addr().Interface()
	} else {
		x = v.Interface()
	}
	out, err := json.Marshal(x)
	if err != nil {
		giveUp()
	}
	return append(b, out...)
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
		var fast knownMarshaler
		if t.Kind() == reflect.Pointer {
			fast = knownMarshalers[t.Elem()]
		}
		return func(e *encState, b []byte, v reflect.Value, _ bool) []byte {
			if v.IsNil() {
				return append(b, "null"...)
			}
			if fast != nil {
				if out, ok := fast(b, v.Elem()); ok {
					return out
				}
			}
			return e.callMarshalJSON(b, marshalerOf(v))
		}
	}
	return func(e *encState, b []byte, v reflect.Value, _ bool) []byte {
		return e.callMarshalJSON(b, marshalerOf(v))
	}
}

func callMarshalJSONOnAddr(e *encState, b []byte, v reflect.Value, _ bool) []byte {
	return e.callMarshalJSON(b, v.Addr().Interface().(json.Marshaler))
}

func (e *encState) callMarshalJSON(b []byte, m json.Marshaler) []byte {
	out, err := m.MarshalJSON()
	if err != nil {
		giveUp()
	}
	return e.appendMarshaled(b, out)
}

// encodeRawMessage is RawMessage's MarshalJSON (nil is null, otherwise the
// bytes themselves) without the call, which would copy the slice header to
// the heap.
func encodeRawMessage(e *encState, b []byte, v reflect.Value, _ bool) []byte {
	if v.IsNil() {
		return append(b, "null"...)
	}
	return e.appendMarshaled(b, v.Bytes())
}

func newTextMarshalerEncoder(t reflect.Type) encoder {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return func(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
			if v.IsNil() {
				return append(b, "null"...)
			}
			return callMarshalText(b, textMarshalerOf(v))
		}
	}
	return func(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
		return callMarshalText(b, textMarshalerOf(v))
	}
}

func callMarshalTextOnAddr(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return callMarshalText(b, v.Addr().Interface().(encoding.TextMarshaler))
}

func callMarshalText(b []byte, m encoding.TextMarshaler) []byte {
	text, err := m.MarshalText()
	if err != nil {
		giveUp()
	}
	return appendString(b, text)
}

func encodeBool(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return strconv.AppendBool(b, v.Bool())
}

func encodeInt(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return strconv.AppendInt(b, v.Int(), 10)
}

func encodeUint(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return strconv.AppendUint(b, v.Uint(), 10)
}

func encodeFloat32(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return appendFloat(b, v.Float(), 32)
}

func encodeFloat64(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return appendFloat(b, v.Float(), 64)
}

func encodeString(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return appendString(b, v.String())
}

func encodeNumber(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	return appendNumber(b, json.Number(v.String()))
}

// encodeInterface encodes the value inside an interface, by its own type and
// as not addressable; a nil interface is null.
func encodeInterface(e *encState, b []byte, v reflect.Value, _ bool) []byte {
	if v.IsNil() {
		return append(b, "null"...)
	}
	v = v.Elem()
	// The common dynamic types of decoded JSON skip the cache lookup.
	switch v.Kind() {
	case reflect.String:
		if v.Type() == stringType {
			return appendString(b, v.String())
		}
	case reflect.Float64:
		if v.Type() == float64Type {
			return appendFloat(b, v.Float(), 64)
		}
	case reflect.Bool:
		if v.Type() == boolType {
			return strconv.AppendBool(b, v.Bool())
		}
	}
	e.enter()
	b = encoderOf(v.Type())(e, b, v, false)
	e.depth--
	return b
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
	return func(e *encState, b []byte, v reflect.Value, _ bool) []byte {
		if v.IsNil() {
			return append(b, "null"...)
		}
		e.enter()
		b = elem(e, b, v.Elem(), true)
		e.depth--
		return b
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
	return func(e *encState, b []byte, v reflect.Value, _ bool) []byte {
		if v.IsNil() {
			return append(b, "null"...)
		}
		e.enter()
		b = append(b, '[')
		for i, n := 0, v.Len(); i < n; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = elem(e, b, v.Index(i), true)
		}
		e.depth--
		return append(b, ']')
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
func encodeStrings(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	if v.IsNil() {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, n := 0, v.Len(); i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v.Index(i).String())
	}
	return append(b, ']')
}

// encodeBytes encodes a byte slice as a string of its standard base64.
func encodeBytes(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	if v.IsNil() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v.Bytes())
	return append(b, '"')
}

// newArrayEncoder: an array's elements are addressable when it is.
func newArrayEncoder(t reflect.Type) encoder {
	elem := encoderOf(t.Elem())
	return func(e *encState, b []byte, v reflect.Value, addr bool) []byte {
		b = append(b, '[')
		for i, n := 0, v.Len(); i < n; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = elem(e, b, v.Index(i), addr)
		}
		return append(b, ']')
	}
}

var (
	stringMapType = reflect.TypeFor[map[string]string]()
	anyMapType    = reflect.TypeFor[map[string]any]()
	// resourceListType is corev1.ResourceList (see encodeResourceList).
	resourceListType = reflect.TypeFor[corev1.ResourceList]()
)

// newMapEncoder: maps whose keys are strings are encoded here, sorted by key;
// those with integer or TextMarshaler keys are left to encoding/json. The two
// commonest map types are ranged over natively, others through reflect.
func newMapEncoder(t reflect.Type) encoder {
	switch {
	case t.Key().Kind() != reflect.String:
		return delegate
	case t == stringMapType:
		return encodeStringMap
	case t == anyMapType:
		return encodeAnyMap
	case t == resourceListType:
		return encodeResourceList
	}
	return newReflectMapEncoder(t)
}

// smallMap is the number of entries sorted in an array on the stack; larger
// maps take a slice from a pool.
const smallMap = 16

type stringEntry struct{ key, val string }

var stringEntries = sync.Pool{New: func() any { return new([]stringEntry) }}

func encodeStringMap(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	m, _ := reflect.TypeAssert[map[string]string](v)
	if m == nil {
		return append(b, "null"...)
	}
	if len(m) <= smallMap {
		var small [smallMap]stringEntry
		return appendStringEntries(b, sortedStrings(small[:0], m))
	}
	p := stringEntries.Get().(*[]stringEntry)
	entries := sortedStrings((*p)[:0], m)
	b = appendStringEntries(b, entries)
	clear(entries) // drop the references to m's strings before pooling
	*p = entries[:0]
	stringEntries.Put(p)
	return b
}

func sortedStrings(entries []stringEntry, m map[string]string) []stringEntry {
	for k, x := range m {
		entries = append(entries, stringEntry{k, x})
	}
	slices.SortFunc(entries, func(a, b stringEntry) int { return strings.Compare(a.key, b.key) })
	return entries
}

func appendStringEntries(b []byte, entries []stringEntry) []byte {
	b = append(b, '{')
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, entries[i].key)
		b = append(b, ':')
		b = appendString(b, entries[i].val)
	}
	return append(b, '}')
}

type anyEntry struct {
	key string
	val any
}

var anyEntries = sync.Pool{New: func() any { return new([]anyEntry) }}

func encodeAnyMap(e *encState, b []byte, v reflect.Value, _ bool) []byte {
	m, _ := reflect.TypeAssert[map[string]any](v)
	if m == nil {
		return append(b, "null"...)
	}
	e.enter()
	if len(m) <= smallMap {
		var small [smallMap]anyEntry
		b = e.appendAnyEntries(b, sortedAnys(small[:0], m))
	} else {
		p := anyEntries.Get().(*[]anyEntry)
		entries := sortedAnys((*p)[:0], m)
		b = e.appendAnyEntries(b, entries)
		clear(entries)
		*p = entries[:0]
		anyEntries.Put(p)
	}
	e.depth--
	return b
}

func sortedAnys(entries []anyEntry, m map[string]any) []anyEntry {
	for k, x := range m {
		entries = append(entries, anyEntry{k, x})
	}
	slices.SortFunc(entries, func(a, b anyEntry) int { return strings.Compare(a.key, b.key) })
	return entries
}

func (e *encState) appendAnyEntries(b []byte, entries []anyEntry) []byte {
	b = append(b, '{')
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, entries[i].key)
		b = append(b, ':')
		b = e.appendAny(b, entries[i].val)
	}
	return append(b, '}')
}

// appendAny encodes the value of an empty interface, not addressable.
func (e *encState) appendAny(b []byte, x any) []byte {
	switch x := x.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case float64:
		return appendFloat(b, x, 64)
	case bool:
		return strconv.AppendBool(b, x)
	}
	v := reflect.ValueOf(x)
	e.enter()
	b = encoderOf(v.Type())(e, b, v, false)
	e.depth--
	return b
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

func newReflectMapEncoder(t reflect.Type) encoder {
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
	return func(e *encState, b []byte, v reflect.Value, _ bool) []byte {
		if v.IsNil() {
			return append(b, "null"...)
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
		b = append(b, '{')
		for j := range s.entries {
			ent := &s.entries[j]
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, ent.key)
			b = append(b, ':')
			if plain {
				b = appendString(b, ent.str)
			} else {
				b = elem(e, b, s.vals.Index(ent.i), false)
			}
		}
		e.depth--
		// Drop the references to v's keys and values before pooling.
		clear(s.entries)
		s.entries = s.entries[:0]
		if !plain {
			s.vals.Clear()
		}
		pool.Put(s)
		return append(b, '}')
	}
}
