package pbjson

import (
	"unicode/utf8"
)

// plain marks the bytes that stand for themselves in a JSON string: ASCII
// but for control characters, the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a JSON string and returns its value.
func (d *decoder) str() (string, bool) {
	s, esc, ok := d.rawString()
	if esc {
		return string(d.buf), ok
	}
	return s, ok
}

// rawString reads the JSON string at d.i. Without escapes its value is
// returned as a slice of the input; with escapes esc is true and the value is
// in d.buf, valid until the next string is read. Like protojson it refuses
// control characters, invalid UTF-8, unknown escapes and unpaired surrogates.
func (d *decoder) rawString() (s string, esc, ok bool) {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", false, false
	}
	start := d.i + 1
	for i := start; i < len(d.s); {
		c := d.s[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			d.i = i + 1
			return d.s[start:i], false, true
		case c == '\\':
			d.buf = append(d.buf[:0], d.s[start:i]...)
			d.i = i
			return "", true, d.unescape()
		case c < utf8.RuneSelf: // a control character
			return "", false, false
		default:
			r, n := utf8.DecodeRuneInString(d.s[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false, false
			}
			i += n
		}
	}
	return "", false, false
}

// unescape continues a string at d.i (at a backslash), appending its
// decoded value to d.buf, through the closing quote.
func (d *decoder) unescape() bool {
	s := d.s
	i := d.i
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(s) {
				return false
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				d.buf = append(d.buf, e)
			case 'b':
				d.buf = append(d.buf, '\b')
			case 'f':
				d.buf = append(d.buf, '\f')
			case 'n':
				d.buf = append(d.buf, '\n')
			case 'r':
				d.buf = append(d.buf, '\r')
			case 't':
				d.buf = append(d.buf, '\t')
			case 'u':
				r, ok := hex4(s, i+2)
				if !ok {
					return false
				}
				i += 6
				if 0xD800 <= r && r < 0xE000 {
					// Only a high surrogate followed by an escaped low one.
					if r >= 0xDC00 || i+1 >= len(s) || s[i] != '\\' || s[i+1] != 'u' {
						return false
					}
					lo, ok := hex4(s, i+2)
					if !ok || lo < 0xDC00 || lo >= 0xE000 {
						return false
					}
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
				d.buf = utf8.AppendRune(d.buf, r)
				continue
			default:
				return false
			}
			i += 2
		case c < ' ':
			return false
		case c < utf8.RuneSelf:
			d.buf = append(d.buf, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return false
			}
			d.buf = append(d.buf, s[i:i+n]...)
			i += n
		}
	}
	return false
}

// hex4 parses the four hexadecimal digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
