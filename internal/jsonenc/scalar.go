package jsonenc

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// verbatim marks the ASCII bytes a JSON string holds as they are when HTML
// escaping is on: printable characters except '"', '\\', '<', '>' and '&'.
var verbatim = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendString appends s as a JSON string the way encoding/json writes it with
// HTML escaping on: short escapes for '"', '\\', \b, \f, \n, \r and \t,
// \u00XX for the other control characters and for '<', '>' and '&',
// \u2028 and \u2029 for the line and paragraph separators, and \ufffd for
// each byte that is not part of valid UTF-8.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	done := 0 // s[:done] is already in dst
	i := 0
	for i < len(s) {
		for i+8 <= len(s) && !needsWork(word(s, i)) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if verbatim[c] {
				i++
				continue
			}
			dst = append(dst, s[done:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			done = i
			continue
		}
		// At most four bytes: a conversion this small stays on the stack.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[done:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[done:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	dst = append(dst, s[done:]...)
	return append(dst, '"')
}

// word is s[i:i+8] as a little-endian number.
func word[S ~string | ~[]byte](s S, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// needsWork reports whether any of the eight bytes of w is not verbatim in a
// JSON string: a control character, '"', '\', '<', '>', '&', or a byte of a
// multi-byte sequence. A byte below n is found by the borrow its subtraction
// leaves in its high bit; a byte equal to c as a byte of w^c below 1. (A
// borrow can mark bytes after a real find, never without one.)
func needsWork(w uint64) bool {
	below := func(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x }
	equal := func(c byte) uint64 { return below(w^(ones*uint64(c)), 1) }
	return (w|below(w, ' ')|equal('"')|equal('\\')|equal('<')|equal('>')|equal('&'))&highs != 0
}

// appendHTMLSafe appends src, valid compact JSON, escaping '<', '>', '&',
// U+2028 and U+2029 as encoding/json does with the output of MarshalJSON.
// In valid JSON these occur only inside strings, where the escapes mean the
// same characters.
func appendHTMLSafe[S ~string | ~[]byte](dst []byte, src S) []byte {
	done := 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '<' || c == '>' || c == '&':
			dst = append(dst, src[done:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			done = i + 1
		case c == 0xe2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xa8 || src[i+2] == 0xa9):
			dst = append(dst, src[done:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xf])
			i += 2
			done = i + 1
		}
	}
	return append(dst, src[done:]...)
}

// appendFloat appends f as encoding/json does (ECMAScript's number to string
// conversion): the shortest decimal that reads back as the same float of the
// given size, in exponent form only below 1e-6 or from 1e21 in magnitude, with
// the exponent's leading zero dropped. NaN and infinities cannot be encoded.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		giveUp()
	}
	form := byte('f')
	if a := math.Abs(f); a != 0 {
		// A float32 is compared as a float32, or values next to the bounds
		// would switch form at the wrong place.
		small, large := a < 1e-6, a >= 1e21
		if bits == 32 {
			small, large = float32(a) < 1e-6, float32(a) >= 1e21
		}
		if small || large {
			form = 'e'
		}
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, form, -1, bits)
	if form == 'e' {
		// strconv writes at least two exponent digits: 1e-07 becomes 1e-7.
		if n := len(dst); n-start >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// isNumber reports whether s is a JSON number: an optional minus sign, an
// integer part without leading zeros, an optional fraction and an optional
// exponent.
func isNumber[S ~string | ~[]byte](s S) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = skipDigits(s, i+1)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := skipDigits(s, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := skipDigits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
}

func skipDigits[S ~string | ~[]byte](s S, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// appendNumber appends a json.Number: its text, "0" when empty, after
// checking it is a JSON number.
func appendNumber(dst []byte, n json.Number) []byte {
	if n == "" {
		return append(dst, '0')
	}
	if !isNumber(n) {
		giveUp()
	}
	return append(dst, n...)
}

// appendMarshaled appends the output of a MarshalJSON method as encoding/json
// does: checked to be one JSON value, without insignificant white space, and
// HTML-escaped. A lone string without escapes, a number or a literal — what
// most such methods write — is checked in one pass here; the rest goes
// through json.Compact.
func (e *encState) appendMarshaled(b, out []byte) []byte {
	if plainToken(out) {
		return appendHTMLSafe(b, out)
	}
	e.tmp.Reset()
	if err := json.Compact(&e.tmp, out); err != nil {
		giveUp()
	}
	return appendHTMLSafe(b, e.tmp.Bytes())
}

// plainToken reports whether b is, exactly and without surrounding space, a
// string with no escape sequences and no control characters, a number, or one
// of true, false and null.
func plainToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '"':
		if len(b) < 2 || b[len(b)-1] != '"' {
			return false
		}
		for _, c := range b[1 : len(b)-1] {
			if c < ' ' || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	case 't':
		return string(b) == "true"
	case 'f':
		return string(b) == "false"
	case 'n':
		return string(b) == "null"
	}
	return isNumber(b)
}
