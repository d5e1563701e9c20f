package pbjson

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// maxDepth bounds the nesting of objects and arrays on the fast path (far
// below protojson's recursion limit of 10000).
const maxDepth = 100

// decoder is the state of one fast-path decode. Every method returns false
// to give up; the caller then resets the message and defers to protojson.
type decoder struct {
	s     string // a copy of the input; unescaped strings are slices of it
	i     int    // read position in s
	depth int
	buf   []byte // scratch for strings with escapes
	slabs slabs  // structpb values to hand out
}

// enter opens an object or array at d.i, which must be the byte open.
func (d *decoder) enter(open byte) bool {
	if d.i >= len(d.s) || d.s[d.i] != open || d.depth >= maxDepth {
		return false
	}
	d.i++
	d.depth++
	d.space()
	return true
}

// next reads the separator after a member or element: true with more=true
// after a comma, true with more=false after close.
func (d *decoder) next(close byte) (more, ok bool) {
	d.space()
	if d.i < len(d.s) {
		switch d.s[d.i] {
		case ',':
			d.i++
			d.space()
			return true, true
		case close:
			d.i++
			d.depth--
			return false, true
		}
	}
	return false, false
}

// closeEmpty consumes close if it comes next (an empty object or array).
func (d *decoder) closeEmpty(close byte) bool {
	if d.i < len(d.s) && d.s[d.i] == close {
		d.i++
		d.depth--
		return true
	}
	return false
}

// colon reads the ':' after an object key, with the whitespace around it.
func (d *decoder) colon() bool {
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != ':' {
		return false
	}
	d.i++
	d.space()
	return true
}

// message decodes one JSON value into m, whose type is described by mi.
func (d *decoder) message(m protoreflect.Message, mi *messageInfo) bool {
	switch mi.class {
	case classObject:
		return d.object(m, mi)
	case classStruct:
		st, ok := m.Interface().(*structpb.Struct)
		return ok && d.structBody(st)
	case classValue:
		v, ok := m.Interface().(*structpb.Value)
		return ok && d.value(v)
	case classListValue:
		lv, ok := m.Interface().(*structpb.ListValue)
		return ok && d.listValue(lv)
	case classDuration:
		return d.duration(m, mi)
	case classWrapper:
		v, ok := d.scalar(&mi.value.elem)
		if ok {
			m.Set(mi.value.fd, v)
		}
		return ok
	}
	return false
}

// object decodes a JSON object of fields into m.
func (d *decoder) object(m protoreflect.Message, mi *messageInfo) bool {
	if !d.enter('{') {
		return false
	}
	if d.closeEmpty('}') {
		return true
	}
	var small [4]uint64 // the fields seen, by index
	seen := small[:]
	if n := (mi.nfields + 63) / 64; n > len(small) {
		seen = make([]uint64, n)
	}
	var oneofs uint64
	base := structOf(m, mi)
	for {
		key, esc, ok := d.rawString()
		if !ok {
			return false
		}
		var fi *fieldInfo
		var first byte
		if esc {
			fi = mi.fields[string(d.buf)]
			if len(d.buf) > 0 {
				first = d.buf[0]
			}
		} else {
			fi = mi.fields[key]
			if len(key) > 0 {
				first = key[0]
			}
		}
		if !d.colon() {
			return false
		}
		if fi == nil {
			// protojson resolves "[ext]" names and may treat "@type"
			// specially; leave both to it.
			if first == '[' || first == '@' {
				return false
			}
			if !d.skip() {
				return false
			}
		} else {
			w, bit := fi.index/64, uint64(1)<<(fi.index%64)
			if seen[w]&bit != 0 {
				return false // protojson: duplicate field
			}
			seen[w] |= bit
			if fi.direct != viaReflect && base != nil {
				if !d.literal("null") && !d.direct(base, fi) {
					return false // null leaves the field unset
				}
			} else if !d.field(m, fi, &oneofs) {
				return false
			}
		}
		more, ok := d.next('}')
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
}

// field decodes the value of field fi of m.
func (d *decoder) field(m protoreflect.Message, fi *fieldInfo, oneofs *uint64) bool {
	if !fi.nullIsValue && d.literal("null") {
		return true // null leaves the field unset
	}
	if !fi.elem.ok {
		return false
	}
	switch fi.card {
	case list:
		return d.list(m.Mutable(fi.fd).List(), &fi.elem)
	case mapping:
		return d.mapping(m.Mutable(fi.fd).Map(), &fi.elem)
	}
	if fi.oneof >= 0 {
		bit := uint64(1) << fi.oneof
		if *oneofs&bit != 0 {
			return false // protojson: oneof is already set
		}
		*oneofs |= bit
	}
	if fi.elem.msg != nil {
		return d.message(m.Mutable(fi.fd).Message(), fi.elem.msg)
	}
	v, ok := d.scalar(&fi.elem)
	if ok {
		m.Set(fi.fd, v)
	}
	return ok
}

// list decodes a JSON array into l.
func (d *decoder) list(l protoreflect.List, vi *valueInfo) bool {
	if !d.enter('[') {
		return false
	}
	if d.closeEmpty(']') {
		return true
	}
	for {
		if vi.msg != nil {
			v := l.NewElement()
			if !d.message(v.Message(), vi.msg) {
				return false
			}
			l.Append(v)
		} else {
			v, ok := d.scalar(vi)
			if !ok {
				return false
			}
			l.Append(v)
		}
		more, ok := d.next(']')
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
}

// members decodes the JSON object at d.i member by member: member is called
// with each key, after its colon, and decodes the value.
func (d *decoder) members(member func(key string) bool) bool {
	if !d.enter('{') {
		return false
	}
	if d.closeEmpty('}') {
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.colon() || !member(k) {
			return false
		}
		more, ok := d.next('}')
		if !ok {
			return false
		}
		if !more {
			return true
		}
	}
}

// mapping decodes a JSON object into the string-keyed map mp.
func (d *decoder) mapping(mp protoreflect.Map, vi *valueInfo) bool {
	return d.members(func(k string) bool {
		key := protoreflect.ValueOfString(k).MapKey()
		var v protoreflect.Value
		ok := false
		if vi.msg != nil {
			v = mp.NewValue()
			ok = d.message(v.Message(), vi.msg)
		} else {
			v, ok = d.scalar(vi)
		}
		if !ok {
			return false
		}
		// A key given twice does not grow the map (cheaper than mp.Has,
		// which converts the key once more).
		n := mp.Len()
		mp.Set(key, v)
		return mp.Len() != n // else protojson: duplicate map key
	})
}

// scalar decodes a JSON value of a non-message kind.
func (d *decoder) scalar(vi *valueInfo) (protoreflect.Value, bool) {
	switch vi.kind {
	case protoreflect.StringKind:
		s, ok := d.str()
		return protoreflect.ValueOfString(s), ok
	case protoreflect.BoolKind:
		if d.literal("true") {
			return protoreflect.ValueOfBool(true), true
		}
		if d.literal("false") {
			return protoreflect.ValueOfBool(false), true
		}
	case protoreflect.EnumKind:
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return protoreflect.Value{}, false // enum numbers are left to protojson
		}
		s, esc, ok := d.rawString()
		if !ok {
			return protoreflect.Value{}, false
		}
		var n protoreflect.EnumNumber
		if esc {
			n, ok = vi.enum[string(d.buf)]
		} else {
			n, ok = vi.enum[s]
		}
		// Unknown names are discarded by protojson: leave that to it.
		return protoreflect.ValueOfEnum(n), ok
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		neg, u, ok := d.integer()
		if !ok || (!neg && u > math.MaxInt32) || (neg && u > -math.MinInt32) {
			return protoreflect.Value{}, false
		}
		n := int64(u)
		if neg {
			n = -n
		}
		return protoreflect.ValueOfInt32(int32(n)), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		neg, u, ok := d.integer()
		if !ok || (!neg && u > math.MaxInt64) || (neg && u > 1<<63) {
			return protoreflect.Value{}, false
		}
		n := int64(u) // wraps to MinInt64 for 1<<63, which negates to itself
		if neg {
			n = -n
		}
		return protoreflect.ValueOfInt64(n), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		neg, u, ok := d.integer()
		if !ok || neg || u > math.MaxUint32 {
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfUint32(uint32(u)), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		neg, u, ok := d.integer()
		if !ok || neg {
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfUint64(u), true
	case protoreflect.FloatKind:
		f, ok := d.float(32)
		return protoreflect.ValueOfFloat32(float32(f)), ok
	case protoreflect.DoubleKind:
		f, ok := d.float(64)
		return protoreflect.ValueOfFloat64(f), ok
	}
	return protoreflect.Value{}, false
}

// integer reads a plain JSON integer, or a string holding exactly one, and
// returns its sign and magnitude. Exponents, fractions, spaces and anything
// beyond 64 bits are left to protojson.
func (d *decoder) integer() (neg bool, u uint64, ok bool) {
	if d.i < len(d.s) && d.s[d.i] == '"' {
		s, esc, ok := d.rawString()
		if !ok {
			return false, 0, false
		}
		if esc {
			return parseInteger(string(d.buf)) // string(d.buf) does not escape
		}
		return parseInteger(s)
	}
	start := d.i
	end := d.numberEnd()
	if end < 0 {
		return false, 0, false
	}
	neg, u, ok = parseInteger(d.s[start:end])
	if ok {
		d.i = end
	}
	return neg, u, ok
}

// parseInteger parses exactly -?(0|[1-9][0-9]*) into a sign and magnitude.
func parseInteger(s string) (neg bool, u uint64, ok bool) {
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || (s[0] == '0' && len(s) > 1) {
		return false, 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false, 0, false
		}
		digit := uint64(c - '0')
		if u > math.MaxUint64/10 || u*10 > math.MaxUint64-digit {
			return false, 0, false
		}
		u = u*10 + digit
	}
	return neg, u, true
}

// float reads a plain JSON number (not a string) as protojson does, with
// strconv.ParseFloat of its text at bitSize.
func (d *decoder) float(bitSize int) (float64, bool) {
	end := d.numberEnd()
	if end < 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(d.s[d.i:end], bitSize)
	if err != nil {
		return 0, false
	}
	d.i = end
	return f, true
}

// numberEnd returns the end of the strict JSON number at d.i, or -1. The
// number must be followed by a delimiter, as protojson requires.
func (d *decoder) numberEnd() int {
	s, i := d.s, d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return -1
	case s[i] == '0':
		i++
	case '1' <= s[i] && s[i] <= '9':
		i = digits(s, i+1)
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return -1
		}
		i = j
	}
	if i < len(s) && notDelim(s[i]) {
		return -1
	}
	return i
}

func digits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// notDelim reports whether c may not directly follow a literal or number.
func notDelim(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c == '_' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// literal consumes lit (true, false or null) if it comes next, followed by a
// delimiter.
func (d *decoder) literal(lit string) bool {
	end := d.i + len(lit)
	if end > len(d.s) || d.s[d.i:end] != lit || (end < len(d.s) && notDelim(d.s[end])) {
		return false
	}
	d.i = end
	return true
}

// space skips JSON whitespace.
func (d *decoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\n', '\r', '\t':
			d.i++
		default:
			return
		}
	}
}

// skip reads and discards one JSON value (the value of an unknown field),
// checking its syntax as protojson does.
func (d *decoder) skip() bool {
	if d.i >= len(d.s) {
		return false
	}
	switch c := d.s[d.i]; c {
	case '{':
		if !d.enter('{') {
			return false
		}
		if d.closeEmpty('}') {
			return true
		}
		for {
			if _, _, ok := d.rawString(); !ok || !d.colon() || !d.skip() {
				return false
			}
			more, ok := d.next('}')
			if !ok {
				return false
			}
			if !more {
				return true
			}
		}
	case '[':
		if !d.enter('[') {
			return false
		}
		if d.closeEmpty(']') {
			return true
		}
		for {
			if !d.skip() {
				return false
			}
			more, ok := d.next(']')
			if !ok {
				return false
			}
			if !more {
				return true
			}
		}
	case '"':
		_, _, ok := d.rawString()
		return ok
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	end := d.numberEnd()
	if end < 0 {
		return false
	}
	d.i = end
	return true
}
