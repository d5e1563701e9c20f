package pbjson

import (
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// structBody decodes a JSON object into st, building the structpb values
// directly rather than through protoreflect.
func (d *decoder) structBody(st *structpb.Struct) bool {
	if !d.enter('{') {
		return false
	}
	// protojson leaves an empty, non-nil map for {}.
	st.Fields = make(map[string]*structpb.Value)
	if d.closeEmpty('}') {
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.colon() {
			return false
		}
		if _, dup := st.Fields[k]; dup {
			return false // protojson: duplicate map key
		}
		v := d.newValue()
		if !d.value(v) {
			return false
		}
		st.Fields[k] = v
		more, ok := d.next('}')
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
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
		v := d.newValue()
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
		sv := d.newStringValue()
		sv.StringValue = s
		v.Kind = sv
		return ok
	case '{':
		st := &structpb.Struct{}
		v.Kind = &structpb.Value_StructValue{StructValue: st}
		return d.structBody(st)
	case '[':
		lv := &structpb.ListValue{}
		v.Kind = &structpb.Value_ListValue{ListValue: lv}
		return d.listValue(lv)
	case 't':
		v.Kind = &structpb.Value_BoolValue{BoolValue: true}
		return d.literal("true")
	case 'f':
		v.Kind = &structpb.Value_BoolValue{BoolValue: false}
		return d.literal("false")
	case 'n':
		v.Kind = &structpb.Value_NullValue{}
		return d.literal("null")
	}
	f, ok := d.float(64)
	v.Kind = &structpb.Value_NumberValue{NumberValue: f}
	return ok
}

// Values and their string kinds are carved from slabs, to allocate a few
// blocks per Struct instead of two objects per value. The slabs grow from
// minSlab to maxSlab elements; a slab lives as long as any value in it.
const (
	minSlab = 8
	maxSlab = 256
)

func (d *decoder) newValue() *structpb.Value {
	if len(d.values) == 0 {
		d.values = make([]structpb.Value, slabSize(cap(d.values)))
	}
	v := &d.values[0]
	d.values = d.values[1:]
	return v
}

func (d *decoder) newStringValue() *structpb.Value_StringValue {
	if len(d.strings) == 0 {
		d.strings = make([]structpb.Value_StringValue, slabSize(cap(d.strings)))
	}
	v := &d.strings[0]
	d.strings = d.strings[1:]
	return v
}

// slabSize is the size of the next slab after one of n elements (0: none yet).
func slabSize(n int) int {
	return min(max(2*n, minSlab), maxSlab)
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
