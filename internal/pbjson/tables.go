package pbjson

import (
	"reflect"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// msgClass says how the fast path decodes a message type.
type msgClass uint8

const (
	classObject      msgClass = iota // an ordinary message: a JSON object of fields
	classStruct                      // google.protobuf.Struct
	classValue                       // google.protobuf.Value
	classListValue                   // google.protobuf.ListValue
	classDuration                    // google.protobuf.Duration
	classWrapper                     // google.protobuf.BoolValue, StringValue, ...
	classUnsupported                 // left to protojson
)

// maxOneofs bounds the per-object bit set of oneofs seen.
const maxOneofs = 64

// messageInfo is what the fast path knows about one message type.
type messageInfo struct {
	class msgClass
	// fields finds a field by its JSON name or its proto (text) name, as
	// protojson does: the JSON name first.
	fields map[string]*fieldInfo
	// nfields is the number of fields, the size of the "seen" bit set.
	nfields int
	// value is the single field of a wrapper type.
	value *fieldInfo
	// seconds and nanos are the fields of a Duration.
	seconds, nanos protoreflect.FieldDescriptor
	// goType is the generated Go type the direct fields' offsets are of.
	goType reflect.Type
}

// cardinality is a field's shape.
type cardinality uint8

const (
	single cardinality = iota
	list
	mapping
)

// fieldInfo is what the fast path knows about one field.
type fieldInfo struct {
	fd    protoreflect.FieldDescriptor
	index int // fd.Index(), the bit in the "seen" set
	oneof int // index of the containing oneof, or -1
	card  cardinality
	// nullIsValue: the field's type is google.protobuf.Value or NullValue, for
	// which protojson treats a JSON null as a value rather than "unset".
	nullIsValue bool
	// elem describes the value, the list element, or the map value.
	elem valueInfo
	// direct says whether the field is written to the generated struct
	// itself, at offset (see direct.go).
	direct directKind
	offset uintptr
}

// valueInfo describes a singular value of some kind.
type valueInfo struct {
	kind protoreflect.Kind
	// ok is false for kinds left to protojson (bytes, NullValue, non-string
	// map keys).
	ok   bool
	msg  *messageInfo                       // message and group kinds
	enum map[string]protoreflect.EnumNumber // enum kind: value numbers by name
}

var (
	infos   sync.Map // protoreflect.MessageDescriptor → *infoEntry
	buildMu sync.Mutex
	// lastInfo is the most recently used entry of infos: a decoder mostly
	// sees one top-level type after another.
	lastInfo atomic.Pointer[infoEntry]
)

type infoEntry struct {
	md protoreflect.MessageDescriptor
	mi *messageInfo
}

// infoFor returns the cached messageInfo of md, building it (and those of all
// message types reachable from it) on first use.
func infoFor(md protoreflect.MessageDescriptor) *messageInfo {
	if e := lastInfo.Load(); e != nil && e.md == md {
		return e.mi
	}
	e := loadOrBuild(md)
	lastInfo.Store(e)
	return e.mi
}

func loadOrBuild(md protoreflect.MessageDescriptor) *infoEntry {
	if v, ok := infos.Load(md); ok {
		return v.(*infoEntry)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if v, ok := infos.Load(md); ok {
		return v.(*infoEntry)
	}
	b := builder{
		msgs:  map[protoreflect.MessageDescriptor]*messageInfo{},
		enums: map[protoreflect.EnumDescriptor]map[string]protoreflect.EnumNumber{},
	}
	b.message(md)
	for k, v := range b.msgs {
		infos.Store(k, &infoEntry{md: k, mi: v})
	}
	v, _ := infos.Load(md)
	return v.(*infoEntry)
}

// builder builds messageInfos; msgs holds those under construction so that
// recursive types (Struct → Value → Struct) resolve to one another.
type builder struct {
	msgs  map[protoreflect.MessageDescriptor]*messageInfo
	enums map[protoreflect.EnumDescriptor]map[string]protoreflect.EnumNumber
}

func (b *builder) message(md protoreflect.MessageDescriptor) *messageInfo {
	if mi := b.msgs[md]; mi != nil {
		return mi
	}
	if v, ok := infos.Load(md); ok {
		return v.(*infoEntry).mi
	}
	mi := &messageInfo{}
	b.msgs[md] = mi
	mi.class = wellKnownClass(md)
	switch mi.class {
	case classObject:
		b.object(mi, md)
	case classWrapper:
		fd := md.Fields().ByNumber(1)
		if fd == nil {
			mi.class = classUnsupported
			break
		}
		mi.value = b.field(fd)
		if !mi.value.elem.ok || mi.value.card != single {
			mi.class = classUnsupported
		}
	case classDuration:
		mi.seconds, mi.nanos = md.Fields().ByNumber(1), md.Fields().ByNumber(2)
		if mi.seconds == nil || mi.nanos == nil {
			mi.class = classUnsupported
		}
	}
	return mi
}

// wellKnownClass classifies the google.protobuf types protojson treats
// specially; the ones the fast path does not implement are unsupported.
func wellKnownClass(md protoreflect.MessageDescriptor) msgClass {
	if md.FullName().Parent() != "google.protobuf" {
		return classObject
	}
	switch md.Name() {
	case "Struct":
		return classStruct
	case "Value":
		return classValue
	case "ListValue":
		return classListValue
	case "Duration":
		return classDuration
	case "BoolValue", "Int32Value", "Int64Value", "UInt32Value", "UInt64Value",
		"FloatValue", "DoubleValue", "StringValue":
		return classWrapper
	case "Any", "Timestamp", "FieldMask", "Empty", "BytesValue":
		return classUnsupported
	}
	return classObject
}

func (b *builder) object(mi *messageInfo, md protoreflect.MessageDescriptor) {
	if opts, ok := md.Options().(*descriptorpb.MessageOptions); ok && opts.GetMessageSetWireFormat() {
		mi.class = classUnsupported // protojson refuses proto1 MessageSets
		return
	}
	fds := md.Fields()
	if md.Oneofs().Len() > maxOneofs {
		mi.class = classUnsupported
		return
	}
	mi.nfields = fds.Len()
	mi.goType = goTypeOf(md)
	all := make([]*fieldInfo, fds.Len())
	for i := range all {
		all[i] = b.field(fds.Get(i))
		if mi.goType != nil {
			setDirect(all[i], mi.goType)
		}
	}
	mi.fields = make(map[string]*fieldInfo, 2*len(all))
	for _, fi := range all {
		for _, name := range [2]string{fi.fd.JSONName(), string(fi.fd.TextName())} {
			// The same resolution as protojson's, for every name that
			// resolves at all.
			fd := fds.ByJSONName(name)
			if fd == nil {
				fd = fds.ByTextName(name)
			}
			if fd != nil {
				mi.fields[name] = all[fd.Index()]
			}
		}
	}
}

func (b *builder) field(fd protoreflect.FieldDescriptor) *fieldInfo {
	fi := &fieldInfo{fd: fd, index: fd.Index(), oneof: -1}
	if od := fd.ContainingOneof(); od != nil {
		fi.oneof = od.Index()
	}
	vd := fd
	switch {
	case fd.IsMap():
		fi.card = mapping
		vd = fd.MapValue()
	case fd.IsList():
		fi.card = list
	}
	fi.elem = b.value(vd)
	if fi.card == mapping && fd.MapKey().Kind() != protoreflect.StringKind {
		fi.elem.ok = false
	}
	if fi.card != mapping {
		if md := fd.Message(); md != nil && md.FullName() == "google.protobuf.Value" {
			fi.nullIsValue = true
		}
		if ed := fd.Enum(); ed != nil && ed.FullName() == "google.protobuf.NullValue" {
			fi.nullIsValue = true
		}
	}
	return fi
}

func (b *builder) value(fd protoreflect.FieldDescriptor) valueInfo {
	vi := valueInfo{kind: fd.Kind(), ok: true}
	switch vi.kind {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		vi.msg = b.message(fd.Message())
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			vi.ok = false
			break
		}
		vi.enum = b.enum(ed)
	case protoreflect.BytesKind:
		vi.ok = false
	}
	return vi
}

func (b *builder) enum(ed protoreflect.EnumDescriptor) map[string]protoreflect.EnumNumber {
	if names, ok := b.enums[ed]; ok {
		return names
	}
	vals := ed.Values()
	names := make(map[string]protoreflect.EnumNumber, vals.Len())
	for i := 0; i < vals.Len(); i++ {
		v := vals.Get(i)
		names[string(v.Name())] = v.Number()
	}
	b.enums[ed] = names
	return names
}
