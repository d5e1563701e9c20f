package pbjson

import (
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Setting a string through protoreflect boxes it twice (and a list element
// or map entry once more, with a reflect.Append or SetMapIndex): in a cold
// expansion a third of all allocations. For the generated Go type of a
// message, the fast path writes string, []string and map[string]string
// fields to the struct itself, as the generated code would, after decoding
// each value exactly as for protoreflect.

// directKind says how a field is written to the generated struct.
type directKind uint8

const (
	viaReflect    directKind = iota // through protoreflect
	directString                    // string (no presence, not in a oneof)
	directStrings                   // []string
	directMap                       // map[string]string
)

// goTypeOf returns the generated Go type (a pointer to a struct) registered
// for md, or nil.
func goTypeOf(md protoreflect.MessageDescriptor) reflect.Type {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil || mt.Descriptor() != md {
		return nil
	}
	t := reflect.TypeOf(mt.Zero().Interface())
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	return t
}

// setDirect finds fi's field in the generated struct t (by the field number
// in its protobuf tag) and, if it is of a kind written directly, notes how
// and where.
func setDirect(fi *fieldInfo, t reflect.Type) {
	if fi.oneof >= 0 || fi.fd.HasPresence() || !fi.elem.ok || fi.elem.kind != protoreflect.StringKind {
		return
	}
	// (A map whose keys are not strings has fi.elem.ok false.)
	var want directKind
	var goType reflect.Type
	switch fi.card {
	case single:
		want, goType = directString, reflect.TypeFor[string]()
	case list:
		want, goType = directStrings, reflect.TypeFor[[]string]()
	case mapping:
		want, goType = directMap, reflect.TypeFor[map[string]string]()
	}
	st := t.Elem()
	for i := 0; i < st.NumField(); i++ {
		sf := st.Field(i)
		if tagNumber(sf.Tag.Get("protobuf")) != int(fi.fd.Number()) {
			continue
		}
		if sf.Type == goType {
			fi.direct, fi.offset = want, sf.Offset
		}
		return
	}
}

// tagNumber is the field number in a generated field's protobuf tag
// ("bytes,3,rep,name=args,proto3"), or -1.
func tagNumber(tag string) int {
	_, rest, ok := strings.Cut(tag, ",")
	if !ok {
		return -1
	}
	num, _, _ := strings.Cut(rest, ",")
	n, err := strconv.Atoi(num)
	if err != nil {
		return -1
	}
	return n
}

// structOf returns where m's generated struct is, when m is of the Go type
// mi's direct fields were found in; else nil.
func structOf(m protoreflect.Message, mi *messageInfo) unsafe.Pointer {
	if mi.goType == nil {
		return nil
	}
	v := m.Interface()
	if reflect.TypeOf(v) != mi.goType {
		return nil
	}
	return reflect.ValueOf(v).UnsafePointer()
}

// direct decodes the value of fi, a direct field, into the struct at base.
func (d *decoder) direct(base unsafe.Pointer, fi *fieldInfo) bool {
	p := unsafe.Add(base, fi.offset)
	switch fi.direct {
	case directString:
		v, ok := d.scalar(&fi.elem)
		if ok {
			*(*string)(p) = v.String()
		}
		return ok
	case directStrings:
		return d.strings((*[]string)(p), &fi.elem)
	case directMap:
		return d.stringMap((*map[string]string)(p), &fi.elem)
	}
	return false
}

// strings decodes a JSON array of strings into *out, as list does.
func (d *decoder) strings(out *[]string, vi *valueInfo) bool {
	if !d.enter('[') {
		return false
	}
	if d.closeEmpty(']') {
		return true // the field stays nil, as protoreflect leaves it
	}
	var list []string
	for {
		v, ok := d.scalar(vi)
		if !ok {
			return false
		}
		list = append(list, v.String())
		more, ok := d.next(']')
		if !ok {
			return false
		}
		if !more {
			*out = list
			return true
		}
	}
}

// stringMap decodes a JSON object of strings into *out, as mapping does.
func (d *decoder) stringMap(out *map[string]string, vi *valueInfo) bool {
	mp := map[string]string{} // an empty object makes an empty map, as Mutable does
	*out = mp
	return d.members(func(k string) bool {
		v, ok := d.scalar(vi)
		if !ok {
			return false
		}
		if _, dup := mp[k]; dup {
			return false // protojson: duplicate map key
		}
		mp[k] = v.String()
		return true
	})
}
