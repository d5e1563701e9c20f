package pbjson

import (
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// structBody decodes a JSON object into st, building the structpb values
// directly rather than through protoreflect.
func (d *decoder) structBody(st *structpb.Struct) bool {
	// protojson leaves an empty, non-nil map for {}.
	st.Fields = make(map[string]*structpb.Value)
	return d.members(func(k string) bool {
		if _, dup := st.Fields[k]; dup {
			return false // protojson: duplicate map key
		}
		v := d.slabs.values.get()
		if !d.value(v) {
			return false
		}
		st.Fields[k] = v
		return true
	})
}

// listValue decodes a JSON array into lv.
func (d *decoder) listValue(lv *structpb.ListValue) bool {
	if !d.enter('[') {
		return false
	}
	if d.closeEmpty(']') {
		return true
	}
	for {
		v := d.slabs.values.get()
		if !d.value(v) {
			return false
		}
		lv.Values = append(lv.Values, v)
		more, ok := d.next(']')
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
}

// value decodes any JSON value into v as protojson does: numbers are
// float64s, strings are always string values, null is the null value.
func (d *decoder) value(v *structpb.Value) bool {
	if d.i >= len(d.s) {
		return false
	}
	switch d.s[d.i] {
	case '"':
		s, ok := d.str()
		k := d.slabs.strs.get()
		k.StringValue = s
		v.Kind = k
		return ok
	case '{':
		n := d.slabs.structs.get()
		n.kind.StructValue = &n.st
		v.Kind = &n.kind
		return d.structBody(&n.st)
	case '[':
		n := d.slabs.lists.get()
		n.kind.ListValue = &n.lv
		v.Kind = &n.kind
		return d.listValue(&n.lv)
	case 't', 'f':
		b := d.literal("true")
		if !b && !d.literal("false") {
			return false
		}
		k := d.slabs.bools.get()
		k.BoolValue = b
		v.Kind = k
		return true
	case 'n':
		v.Kind = d.slabs.nulls.get()
		return d.literal("null")
	}
	f, ok := d.float(64)
	k := d.slabs.numbers.get()
	k.NumberValue = f
	v.Kind = k
	return ok
}

// slab hands out pointers to elements of a block allocated at once, so that
// a Struct costs a few allocations rather than two or three per value. The
// blocks grow from minSlab to maxSlab elements; a block lives as long as any
// element handed out from it.
type slab[T any] struct {
	free []T
	next int // size of the next block
}

const (
	minSlab = 2
	maxSlab = 256
)

func (s *slab[T]) get() *T {
	if len(s.free) == 0 {
		s.next = min(max(2*s.next, minSlab), maxSlab)
		s.free = make([]T, s.next)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}

// structNode and listNode allocate a nested Struct or ListValue together with
// the Value kind that points to it.
type structNode struct {
	kind structpb.Value_StructValue
	st   structpb.Struct
}

type listNode struct {
	kind structpb.Value_ListValue
	lv   structpb.ListValue
}

// slabs are the decoder's slabs of structpb values.
type slabs struct {
	values  slab[structpb.Value]
	strs    slab[structpb.Value_StringValue]
	numbers slab[structpb.Value_NumberValue]
	bools   slab[structpb.Value_BoolValue]
	nulls   slab[structpb.Value_NullValue]
	structs slab[structNode]
	lists   slab[listNode]
}

// maxDurationSeconds is the range of google.protobuf.Duration, ±10000 years.
const maxDurationSeconds = 315576000000

// duration decodes a Duration given as a string such as "3600s", "1.5s" or
// "-2s". Only -?(0|[1-9][0-9]*)(.[0-9]{1,9})?s within the range is taken;
// protojson's other forms ("+1s", ".5s", "1.s") are left to it.
func (d *decoder) duration(m protoreflect.Message, mi *messageInfo) bool {
	s, ok := d.str()
	if !ok || len(s) < 2 || s[len(s)-1] != 's' {
		return false
	}
	s = s[:len(s)-1]
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	intEnd := digits(s, 0)
	if intEnd == 0 || intEnd > 12 || (s[0] == '0' && intEnd > 1) {
		return false
	}
	secs, err := strconv.ParseInt(s[:intEnd], 10, 64)
	if err != nil || secs > maxDurationSeconds {
		return false
	}
	var nanos int64
	if frac := s[intEnd:]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 || digits(frac, 1) != len(frac) {
			return false
		}
		for i := 1; i < 10; i++ {
			nanos *= 10
			if i < len(frac) {
				nanos += int64(frac[i] - '0')
			}
		}
	}
	if neg {
		secs, nanos = -secs, -nanos
	}
	m.Set(mi.seconds, protoreflect.ValueOfInt64(secs))
	m.Set(mi.nanos, protoreflect.ValueOfInt32(int32(nanos)))
	return true
}
