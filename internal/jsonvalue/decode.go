// Package jsonvalue decodes JSON into the generic values encoding/json
// produces with UseNumber (map[string]any, []any, string, json.Number, bool
// and nil), with exactly encoding/json's results but in a single pass and
// with fewer allocations. (Package jsonenc encodes them.)
//
// The fast code handles well-formed input only. Whenever it meets anything
// else, or anything it does not handle itself (a syntax error, nesting deeper
// than maxDepth, a type it does not know), it hands the whole input to
// encoding/json and returns that result and error, so errors are always
// encoding/json's own.
package jsonvalue

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is how deeply nested arrays and objects the fast paths follow;
// deeper input is left to encoding/json (whose own limit is 10000).
const maxDepth = 100

// fallbackHook, when set (by tests), is called each time a function hands
// its input to encoding/json.
var fallbackHook func(what string)

func fellBack(what string) {
	if h := fallbackHook; h != nil {
		h(what)
	}
}

// Decode decodes the first JSON value of data as a json.Decoder with
// UseNumber does (what follows the value is not read): objects become
// map[string]any, arrays []any, numbers json.Number.
func Decode(data []byte) (any, error) {
	d := newDecoder(data)
	d.skipSpace()
	v, ok := d.value()
	d.release()
	if ok {
		return v, nil
	}
	fellBack("Decode")
	var out any
	err := stdDecoder(data).Decode(&out)
	return out, err
}

// DecodeObject is Decode into a map[string]any: what a json.Decoder with
// UseNumber decodes into one (nil and no error for a JSON null, an error for
// other non-objects).
func DecodeObject(data []byte) (map[string]any, error) {
	if m, ok := decodeFast(data, (*decoder).object); ok {
		return m, nil
	}
	fellBack("DecodeObject")
	var out map[string]any
	err := stdDecoder(data).Decode(&out)
	return out, err
}

// decodeFast runs decode on the object data holds, on the fast path; false:
// data is not an object the fast path reads, and the caller falls back.
func decodeFast(data []byte, decode func(*decoder) (map[string]any, bool)) (map[string]any, bool) {
	d := newDecoder(data)
	defer d.release()
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		return nil, false
	}
	return decode(d)
}

func stdDecoder(data []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec
}

// member is one decoded name/value pair of an object not yet closed.
type member struct {
	key string
	val any
}

// decoder is the state of one fast decoding. Elements of the arrays and
// members of the objects being decoded wait on elems and members until their
// container closes, so that each container is allocated once at its size.
type decoder struct {
	data    []byte
	pos     int
	depth   int
	elems   []any
	members []member
	buf     []byte // unescaped text of the current string
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

func newDecoder(data []byte) *decoder {
	d := decoders.Get().(*decoder)
	d.data, d.pos, d.depth = data, 0, 0
	return d
}

// release returns d to the pool, dropping its references to decoded values
// and keeping only modest scratch space.
func (d *decoder) release() {
	clear(d.elems)
	clear(d.members)
	d.elems, d.members, d.data = d.elems[:0], d.members[:0], nil
	if cap(d.elems) > 1<<12 || cap(d.members) > 1<<12 || cap(d.buf) > 1<<16 {
		return
	}
	decoders.Put(d)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) && isSpace(d.data[d.pos]) {
		d.pos++
	}
}

// value decodes the value at d.pos (no space before it); false when the fast
// path cannot decode it.
func (d *decoder) value() (any, bool) {
	if d.pos >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.pos]; c {
	case '{':
		m, ok := d.object()
		return m, ok
	case '[':
		a, ok := d.array()
		return a, ok
	case '"':
		s, ok := d.str()
		return s, ok
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			end := numberEnd(d.data, d.pos)
			if end < 0 {
				return nil, false
			}
			n := json.Number(d.data[d.pos:end])
			d.pos = end
			return n, true
		}
	}
	return nil, false
}

func (d *decoder) literal(word string) bool {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		return false
	}
	d.pos += len(word)
	return true
}

// numberEnd returns where the JSON number starting at data[i] ends: at the
// first byte that cannot continue it, as encoding/json's scanner sees it; -1
// when the number is malformed (a sign, point or exponent without digits).
func numberEnd[T string | []byte](data T, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return -1
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i++
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return -1
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return -1
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	return i
}

func (d *decoder) object() (map[string]any, bool) {
	base := len(d.members)
	if empty, ok := d.open('}'); !ok || empty {
		return map[string]any{}, ok
	}
	for more := true; more; {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, false
		}
		key, ok := d.str()
		if !ok || !d.colon() {
			return nil, false
		}
		val, ok := d.value()
		if !ok {
			return nil, false
		}
		d.members = append(d.members, member{key, val})
		if more, ok = d.next('}'); !ok {
			return nil, false
		}
	}
	members := d.members[base:]
	m := make(map[string]any, len(members))
	for _, kv := range members {
		m[kv.key] = kv.val // a repeated name: the last one wins
	}
	clear(members)
	d.members = d.members[:base]
	return m, true
}

// open enters the object or array at d.pos, whose closing byte is given:
// empty when it closes at once (then left already), false past maxDepth.
func (d *decoder) open(closing byte) (empty, ok bool) {
	d.pos++
	if d.depth++; d.depth > maxDepth {
		return false, false
	}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == closing {
		d.pos++
		d.depth--
		return true, true
	}
	return false, true
}

// colon reads the ':' after a member's name and the space around it.
func (d *decoder) colon() bool {
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		return false
	}
	d.pos++
	d.skipSpace()
	return true
}

// next reads what follows a member or element: a comma (more to come) or
// the container's closing byte (then the container is left).
func (d *decoder) next(closing byte) (more, ok bool) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return false, false
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		d.skipSpace()
		return true, true
	case closing:
		d.pos++
		d.depth--
		return false, true
	}
	return false, false
}

func (d *decoder) array() ([]any, bool) {
	base := len(d.elems)
	if empty, ok := d.open(']'); !ok || empty {
		return []any{}, ok
	}
	for more := true; more; {
		val, ok := d.value()
		if !ok {
			return nil, false
		}
		d.elems = append(d.elems, val)
		if more, ok = d.next(']'); !ok {
			return nil, false
		}
	}
	elems := d.elems[base:]
	a := make([]any, len(elems))
	copy(a, elems)
	clear(elems)
	d.elems = d.elems[:base]
	return a, true
}

// plainByte marks the bytes a JSON string may contain as they are, which
// need no decoding: ASCII from the space up, but for the quote and backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str decodes the string whose opening quote is at d.pos.
func (d *decoder) str() (string, bool) {
	data := d.data
	start := d.pos + 1
	i := start
	for i < len(data) && plainByte[data[i]] {
		i++
	}
	if i < len(data) && data[i] == '"' {
		d.pos = i + 1
		return string(data[start:i]), true
	}
	return d.strSlow(start, i)
}

// strSlow decodes a string from data[start] on, whose plain bytes end at
// data[i]: escapes are decoded and ill-formed UTF-8 is replaced by U+FFFD,
// byte by byte, as encoding/json does.
func (d *decoder) strSlow(start, i int) (string, bool) {
	data := d.data
	buf := append(d.buf[:0], data[start:i]...)
	defer func() { d.buf = buf[:0] }()
	for i < len(data) {
		c := data[i]
		switch {
		case plainByte[c]:
			j := i + 1
			for j < len(data) && plainByte[data[j]] {
				j++
			}
			buf = append(buf, data[i:j]...)
			i = j
		case c == '"':
			d.pos = i + 1
			return string(buf), true
		case c == '\\':
			if i+1 >= len(data) {
				return "", false
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r := hex4(data, i)
				if r < 0 {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair takes the next escape too; anything else
					// is one U+FFFD, the next escape decoded on its own.
					if r2 := hex4(data, i); r2 >= 0 {
						if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
							r = p
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return "", false
			}
			i += 2
		case c < 0x20:
			return "", false
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, data[i:i+size]...)
			}
			i += size
		}
	}
	return "", false
}

// hex4 returns the code unit of the \uXXXX escape at data[i], or -1.
func hex4(data []byte, i int) rune {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range data[i+2 : i+6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
