package jsonvalue

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Append appends the JSON encoding of v to buf: byte for byte what
// json.Marshal(v) returns. Maps with string keys, slices of any, strings,
// json.Number, bool, nil, float64, int64 and json.RawMessage are encoded
// here; values of other types by json.Marshal. On error buf is returned as it
// was, with json.Marshal's error.
func Append(buf []byte, v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	var out []byte
	var ok bool
	if cap(buf)-len(buf) >= minRoom {
		out, ok = e.value(buf, v, 0)
	} else {
		// Little room: encode into the pooled scratch buffer, then grow buf
		// once rather than step by step.
		e.buf, ok = e.value(e.buf[:0], v, 0)
		if ok {
			out = append(buf, e.buf...)
		}
	}
	e.release()
	if ok {
		return out, nil
	}
	fellBack("Append")
	data, err := json.Marshal(v)
	if err != nil {
		return buf, err
	}
	return append(buf, data...), nil
}

// minRoom is the free capacity from which Append writes into buf directly.
const minRoom = 1 << 10

// encoder holds the scratch space of one Append: the members of the maps
// being encoded, sorted by key, and the output when the caller's buffer has
// little room.
type encoder struct {
	members []member
	buf     []byte
}

var encoders = sync.Pool{New: func() any { return new(encoder) }}

func (e *encoder) release() {
	clear(e.members)
	e.members = e.members[:0]
	if cap(e.members) <= 1<<12 && cap(e.buf) <= 1<<16 {
		encoders.Put(e)
	}
}

// value appends v; false when the fast path cannot encode it.
func (e *encoder) value(buf []byte, v any, depth int) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), true
	case string:
		return AppendString(buf, x), true
	case map[string]any:
		if x == nil {
			return append(buf, "null"...), true
		}
		return e.object(buf, x, depth+1)
	case []any:
		if x == nil {
			return append(buf, "null"...), true
		}
		if depth >= maxDepth {
			return buf, false
		}
		buf = append(buf, '[')
		for i, el := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var ok bool
			if buf, ok = e.value(buf, el, depth+1); !ok {
				return buf, false
			}
		}
		return append(buf, ']'), true
	case json.Number:
		s := string(x)
		if s == "" {
			s = "0" // json.Marshal writes the zero Number as 0
		}
		if numberEnd(s, 0) != len(s) {
			return buf, false
		}
		return append(buf, s...), true
	case bool:
		return strconv.AppendBool(buf, x), true
	case float64:
		return appendFloat(buf, x)
	case int64:
		return strconv.AppendInt(buf, x, 10), true
	case json.RawMessage:
		if x == nil {
			return append(buf, "null"...), true
		}
		return appendCompact(buf, x)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return buf, false
	}
	return append(buf, data...), true
}

// object appends a map, its keys in sorted order.
func (e *encoder) object(buf []byte, m map[string]any, depth int) ([]byte, bool) {
	if depth > maxDepth {
		return buf, false // json.Marshal finds cycles; let it
	}
	base := len(e.members)
	for k, v := range m {
		e.members = append(e.members, member{k, v})
	}
	slices.SortFunc(e.members[base:], func(a, b member) int { return strings.Compare(a.key, b.key) })
	buf = append(buf, '{')
	// Nested maps append to e.members: index it afresh each time.
	for i := base; i < base+len(m); i++ {
		if i > base {
			buf = append(buf, ',')
		}
		buf = AppendString(buf, e.members[i].key)
		buf = append(buf, ':')
		var ok bool
		if buf, ok = e.value(buf, e.members[i].val, depth); !ok {
			return buf, false
		}
	}
	clear(e.members[base:])
	e.members = e.members[:base]
	return append(buf, '}'), true
}

// appendFloat formats f as encoding/json does: like ES6, the shortest
// representation, with an exponent below 1e-6 and from 1e21 on. NaN and the
// infinities are errors.
func appendFloat(buf []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, false
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// A one-digit negative exponent loses its leading zero: e-07 → e-7.
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf, true
}

const hexDigits = "0123456789abcdef"

// safeByte marks the bytes a string is written with as they are: ASCII from
// the space up, but for the quote, the backslash and the HTML characters <, >
// and &, which json.Marshal escapes.
var safeByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = !strings.ContainsRune(`"\<>&`, rune(c))
	}
	return t
}()

// AppendString appends s as json.Marshal writes a string (Append without
// the conversion of s to an interface): quoted, with <, >, &, U+2028 and
// U+2029 escaped and ill-formed UTF-8 replaced by \ufffd.
func AppendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start, i := 0, 0
	for i < len(s) {
		c := s[i]
		if safeByte[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default: // other control characters, <, > and &
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but line ends to JavaScript: escaped.
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendCompact appends raw JSON as json.Marshal writes a json.RawMessage:
// checked to be one JSON value, the space between tokens removed, and <, >,
// &, U+2028 and U+2029 escaped in strings. Other bytes of strings (escapes,
// even ill-formed UTF-8) are kept as they are. False if raw is not valid
// JSON or is nested too deeply.
func appendCompact(buf []byte, raw []byte) ([]byte, bool) {
	c := compactor{data: raw}
	c.skipSpace()
	buf, ok := c.value(buf)
	if !ok {
		return buf, false
	}
	c.skipSpace()
	return buf, c.pos == len(raw)
}

type compactor struct {
	data  []byte
	pos   int
	depth int
}

func (c *compactor) skipSpace() {
	for c.pos < len(c.data) && isSpace(c.data[c.pos]) {
		c.pos++
	}
}

func (c *compactor) value(buf []byte) ([]byte, bool) {
	if c.pos >= len(c.data) {
		return buf, false
	}
	switch b := c.data[c.pos]; b {
	case '{', '[':
		closing := byte('}')
		if b == '[' {
			closing = ']'
		}
		if c.depth++; c.depth > maxDepth {
			return buf, false
		}
		buf = append(buf, b)
		c.pos++
		c.skipSpace()
		if c.pos < len(c.data) && c.data[c.pos] == closing {
			c.pos++
			c.depth--
			return append(buf, closing), true
		}
		for {
			var ok bool
			if b == '{' {
				if c.pos >= len(c.data) || c.data[c.pos] != '"' {
					return buf, false
				}
				if buf, ok = c.str(buf); !ok {
					return buf, false
				}
				c.skipSpace()
				if c.pos >= len(c.data) || c.data[c.pos] != ':' {
					return buf, false
				}
				buf = append(buf, ':')
				c.pos++
				c.skipSpace()
			}
			if buf, ok = c.value(buf); !ok {
				return buf, false
			}
			c.skipSpace()
			if c.pos >= len(c.data) {
				return buf, false
			}
			switch c.data[c.pos] {
			case ',':
				buf = append(buf, ',')
				c.pos++
				c.skipSpace()
				continue
			case closing:
				c.pos++
				c.depth--
				return append(buf, closing), true
			}
			return buf, false
		}
	case '"':
		return c.str(buf)
	case 't':
		return c.literal(buf, "true")
	case 'f':
		return c.literal(buf, "false")
	case 'n':
		return c.literal(buf, "null")
	default:
		end := numberEnd(c.data, c.pos)
		if end < 0 {
			return buf, false
		}
		buf = append(buf, c.data[c.pos:end]...)
		c.pos = end
		return buf, true
	}
}

func (c *compactor) literal(buf []byte, word string) ([]byte, bool) {
	if !bytes.HasPrefix(c.data[c.pos:], []byte(word)) {
		return buf, false
	}
	c.pos += len(word)
	return append(buf, word...), true
}

// str copies the string whose opening quote is at c.pos.
func (c *compactor) str(buf []byte) ([]byte, bool) {
	data := c.data
	start := c.pos
	i := start + 1
	for i < len(data) {
		b := data[i]
		switch {
		case b == '"':
			c.pos = i + 1
			return append(buf, data[start:c.pos]...), true
		case b == '\\':
			if i+1 >= len(data) {
				return buf, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(data, i) < 0 {
					return buf, false
				}
				i += 6
			default:
				return buf, false
			}
		case b < 0x20:
			return buf, false
		case b == '<' || b == '>' || b == '&':
			buf = append(buf, data[start:i]...)
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			i++
			start = i
		case b == 0xe2 && i+2 < len(data) && data[i+1] == 0x80 && data[i+2]&^1 == 0xa8:
			buf = append(buf, data[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[data[i+2]&0xf])
			i += 3
			start = i
		default:
			i++
		}
	}
	return buf, false
}
