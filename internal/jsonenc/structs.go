package jsonenc

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unsafe"
)

// structField is one field a struct type's encoding has.
type structField struct {
	name      string
	key       string // "name": with the name HTML-escaped
	path      []int  // field indexes from the outer struct, through embedded structs
	tagged    bool   // the name comes from the json tag
	omitEmpty bool
	omitZero  bool
	isZero    func(v reflect.Value) bool // omitzero by the type's IsZero method, if it has one
	quoted    bool                       // the ,string option on a scalar field
	enc       encoder
	index     int   // path[0]
	nested    []int // path[1:]
	skip      skipTest
	mem       memTest // for a field of the struct itself (not promoted)
	offset    uintptr // its offset in the struct
}

// skipTest is how a field's omitempty and omitzero options are checked,
// chosen once from its kind and options.
type skipTest uint8

const (
	never          skipTest = iota // no option, or omitempty on a struct
	ifLenZero                      // omitempty on an array, map, slice or string
	ifZero                         // omitempty on a scalar, pointer or interface; omitzero without IsZero
	ifIsZero                       // omitzero by the type's IsZero method
	ifEmptyAndZero                 // both options: either test skips the field
)

// skipped reports whether the field, of value v, is left out.
func (f *structField) skipped(v reflect.Value) bool {
	switch f.skip {
	case ifLenZero:
		return v.Len() == 0
	case ifZero:
		return v.IsZero()
	case ifIsZero:
		return f.isZero(v)
	case ifEmptyAndZero:
		return isEmpty(v) || f.zero(v)
	}
	return false
}

func skipTestOf(f *structField, t reflect.Type) skipTest {
	switch {
	case f.omitEmpty && f.omitZero:
		return ifEmptyAndZero
	case f.omitZero && f.isZero != nil:
		return ifIsZero
	case f.omitZero:
		return ifZero
	case !f.omitEmpty:
		return never
	}
	switch t.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return ifLenZero
	case reflect.Struct, reflect.Complex64, reflect.Complex128, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return never
	}
	return ifZero
}

// memTest is a cheaper form of a field's skipTest, for addressable structs:
// it reads the field's memory instead of making a reflect.Value of it, which
// for the mostly empty fields of Kubernetes objects is most of the cost.
type memTest uint8

const (
	memNone   memTest = iota
	memLen            // string or slice header: the length word is zero
	memWord           // pointer, map, channel, function, interface (its type word), nil slice
	memMapNil         // a nil map is empty; a non-nil one must be asked its length
	mem1              // bool or integer of that many bytes is zero
	mem2
	mem4
	mem8
	memF32 // float equal to zero (as -0 is)
	memF64
)

func memTestOf(skip skipTest, t reflect.Type) memTest {
	switch skip {
	case ifLenZero:
		switch t.Kind() {
		case reflect.String, reflect.Slice:
			return memLen
		case reflect.Map:
			return memMapNil
		}
	case ifZero:
		switch t.Kind() {
		case reflect.String:
			return memLen
		case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Interface, reflect.Slice:
			return memWord
		case reflect.Float32:
			return memF32
		case reflect.Float64:
			return memF64
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			switch t.Size() {
			case 1:
				return mem1
			case 2:
				return mem2
			case 4:
				return mem4
			case 8:
				return mem8
			}
		}
	}
	return memNone
}

// test reports whether the field at p is left out, and whether that answer
// is final (false for a non-nil map).
func (m memTest) test(p unsafe.Pointer) (skip, sure bool) {
	switch m {
	case memLen:
		return (*[2]uintptr)(p)[1] == 0, true
	case memWord:
		return *(*unsafe.Pointer)(p) == nil, true
	case memMapNil:
		if *(*unsafe.Pointer)(p) == nil {
			return true, true
		}
		return false, false
	case mem1:
		return *(*uint8)(p) == 0, true
	case mem2:
		return *(*uint16)(p) == 0, true
	case mem4:
		return *(*uint32)(p) == 0, true
	case mem8:
		return *(*uint64)(p) == 0, true
	case memF32:
		return *(*float32)(p) == 0, true
	case memF64:
		return *(*float64)(p) == 0, true
	}
	return false, false
}

type isZeroer interface{ IsZero() bool }

var isZeroerType = reflect.TypeFor[isZeroer]()

// newStructEncoder encodes t's fields in order of their paths; a field behind
// a nil embedded pointer is left out. Types with a ,string field are left to
// encoding/json.
func newStructEncoder(t reflect.Type) encoder {
	fields := structFields(t)
	for i := range fields {
		if fields[i].quoted {
			return delegate
		}
	}
	for i := range fields {
		f := &fields[i]
		ft := t.FieldByIndex(f.path).Type
		f.enc = encoderOf(ft)
		f.index, f.nested = f.path[0], f.path[1:]
		f.skip = skipTestOf(f, ft)
		if len(f.nested) == 0 {
			f.mem = memTestOf(f.skip, ft)
			f.offset = t.Field(f.index).Offset
		}
	}
	return func(e *encState, b []byte, v reflect.Value, addr bool) []byte {
		record := e.record // for this struct only, not the ones inside it
		if record {
			e.record, e.recorded = false, true
		}
		var base unsafe.Pointer
		if v.CanAddr() {
			base = v.Addr().UnsafePointer()
		}
		b = append(b, '{')
		empty := true
	next:
		for i := range fields {
			f := &fields[i]
			checked := false
			if f.mem != memNone && base != nil {
				skip, sure := f.mem.test(unsafe.Add(base, f.offset))
				if skip {
					continue
				}
				checked = sure
			}
			fv, faddr := v.Field(f.index), addr
			for _, x := range f.nested {
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						continue next
					}
					fv, faddr = fv.Elem(), true
				}
				fv = fv.Field(x)
			}
			if !checked && f.skip != never && f.skipped(fv) {
				continue
			}
			if !empty {
				b = append(b, ',')
			}
			empty = false
			b = append(b, f.key...)
			start := len(b)
			b = f.enc(e, b, fv, faddr)
			if record {
				e.spans = append(e.spans, memberSpan{f.name, start, len(b)})
			}
		}
		return append(b, '}')
	}
}

// isEmpty is omitempty's test: false, 0, a nil pointer or interface, or an
// array, slice, map or string of length 0. A struct is never empty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// zero is omitzero's test: the IsZero method of the field's type (or of its
// pointer type) when it has one, the zero value otherwise.
func (f *structField) zero(v reflect.Value) bool {
	if f.isZero != nil {
		return f.isZero(v)
	}
	return v.IsZero()
}

// isZeroFunc returns the IsZero test omitzero uses for fields of type t, or
// nil when t has no IsZero method. Nil pointers and interfaces (and an
// interface holding a nil pointer) count as zero without a call.
func isZeroFunc(t reflect.Type) func(reflect.Value) bool {
	switch {
	case t.Kind() == reflect.Interface && t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			if v.IsNil() {
				return true
			}
			if d := v.Elem(); d.Kind() == reflect.Pointer && d.IsNil() {
				return true
			}
			return v.Interface().(isZeroer).IsZero()
		}
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			return v.IsNil() || v.Interface().(isZeroer).IsZero()
		}
	case t.Implements(isZeroerType), reflect.PointerTo(t).Implements(isZeroerType):
		// Through the address when there is one (no copy to the heap); a
		// value that has none is copied to a new variable first.
		return func(v reflect.Value) bool {
			if !v.CanAddr() {
				c := reflect.New(v.Type()).Elem()
				c.Set(v)
				v = c
			}
			return v.Addr().Interface().(isZeroer).IsZero()
		}
	}
	return nil
}

// structFields lists the fields encoding/json encodes for struct type t, in
// encoding order. The fields of embedded structs (and pointers to structs)
// without a tag name are promoted, level by level; where several fields get
// one name, the shallowest wins if it is alone at its depth, or else the one
// tagged field at that depth; with no such winner the name is left out.
func structFields(t reflect.Type) []structField {
	type embedded struct {
		t    reflect.Type
		path []int
	}
	var (
		found   []structField
		level   = []embedded{{t: t}}
		seen    = map[reflect.Type]bool{}
		repeats map[reflect.Type]int // how often each type of this level was embedded in the one above
	)
	for len(level) > 0 {
		var below []embedded
		belowRepeats := map[reflect.Type]int{}
		for _, em := range level {
			if seen[em.t] {
				continue
			}
			seen[em.t] = true
			for i := 0; i < em.t.NumField(); i++ {
				sf := em.t.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					// An unexported embedded struct can still have
					// exported fields; other unexported types cannot.
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validName(name) {
					name = ""
				}
				path := append(slices.Clip(em.path), i)
				ft = sf.Type
				if ft.Kind() == reflect.Pointer && ft.Name() == "" {
					ft = ft.Elem()
				}
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					belowRepeats[ft]++
					if belowRepeats[ft] == 1 {
						below = append(below, embedded{t: ft, path: path})
					}
					continue
				}
				f := structField{
					name:      name,
					tagged:    name != "",
					path:      path,
					omitEmpty: hasOption(opts, "omitempty"),
					omitZero:  hasOption(opts, "omitzero"),
					quoted:    hasOption(opts, "string") && isScalar(ft.Kind()),
				}
				if f.name == "" {
					f.name = sf.Name
				}
				f.key = string(appendHTMLSafe([]byte{'"'}, []byte(f.name))) + `":`
				if f.omitZero {
					f.isZero = isZeroFunc(sf.Type)
				}
				found = append(found, f)
				if repeats[em.t] > 1 {
					// The struct was embedded twice at one depth: its fields
					// conflict with their twins, so list them twice.
					found = append(found, f)
				}
			}
		}
		level, repeats = below, belowRepeats
	}

	slices.SortFunc(found, func(a, b structField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.path), len(b.path)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.path, b.path)
	})
	var fields []structField
	for len(found) > 0 {
		n := 1
		for n < len(found) && found[n].name == found[0].name {
			n++
		}
		// Sorted by depth, then tagged first: the first field wins unless
		// the second is as deep and as tagged.
		if n == 1 || len(found[1].path) != len(found[0].path) || found[1].tagged != found[0].tagged {
			fields = append(fields, found[0])
		}
		found = found[n:]
	}
	slices.SortFunc(fields, func(a, b structField) int { return slices.Compare(a.path, b.path) })
	return fields
}

func isScalar(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

// hasOption reports whether the comma-separated tag options include opt.
func hasOption(opts, opt string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == opt {
			return true
		}
	}
	return false
}

// validName reports whether a json tag name is used: it must be non-empty and
// made of letters, digits, spaces and ASCII punctuation other than quotes,
// backslash and comma.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", r) {
			continue
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}
