package webhook

import (
	sigsjson "sigs.k8s.io/json"
)

// The embedded objects are most of an AdmissionReview's bytes, and
// sigs.k8s.io/json reads each of them three times (validate the document,
// find the value's end, copy it). decodeReviewFast reads the body once: it
// checks that the whole body is JSON and notes where request.object,
// request.oldObject and request.options are, decodes the rest of the review
// (with those three as null) with sigs.k8s.io/json as before, and gives the
// request the embedded values as they stand in the body.

// rawMember is where one embedded value of request is in the body.
type rawMember struct {
	start, end int
	field      int // which of rawFields
}

// rawFields are the members of request whose values are kept raw.
var rawFields = [...]string{"object", "oldObject", "options"}

// maxScanDepth is the nesting the scan follows; deeper bodies take the
// ordinary decoding, which has its own limit and error.
const maxScanDepth = 100

// decodeReviewFast decodes body as sigsjson.UnmarshalCaseSensitivePreserveInts
// does, for the plain form of a review; false: decode it the ordinary way
// (anything unusual, such as invalid JSON, escaped or repeated names of the
// members above, is left to that, with its own result and error).
func decodeReviewFast(body []byte) (admissionReview, bool) {
	var ar admissionReview
	sc := reviewScanner{b: body}
	if !sc.document() {
		return ar, false
	}
	if len(sc.raws) == 0 {
		return ar, sigsjson.UnmarshalCaseSensitivePreserveInts(body, &ar) == nil
	}
	rest := make([]byte, 0, len(body)-sc.rawBytes()+4*len(sc.raws))
	at := 0
	for _, r := range sc.raws {
		rest = append(rest, body[at:r.start]...)
		rest = append(rest, "null"...)
		at = r.end
	}
	rest = append(rest, body[at:]...)
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(rest, &ar); err != nil || ar.Request == nil {
		return ar, false
	}
	for _, r := range sc.raws {
		v := body[r.start:r.end:r.end]
		if string(v) == "null" {
			continue // RawExtension keeps no bytes for null
		}
		switch r.field {
		case 0:
			ar.Request.Object.Raw = v
		case 1:
			ar.Request.OldObject.Raw = v
		case 2:
			ar.Request.Options.Raw = v
		}
	}
	return ar, true
}

// reviewScanner checks a JSON document as encoding/json's scanner does and
// notes the raw members of its top-level "request" object.
type reviewScanner struct {
	b     []byte
	i     int
	depth int
	raws  []rawMember
	seen  [len(rawFields) + 1]bool // rawFields, then "request" itself
}

func (s *reviewScanner) rawBytes() int {
	n := 0
	for _, r := range s.raws {
		n += r.end - r.start
	}
	return n
}

// document: one value, then only white space.
func (s *reviewScanner) document() bool {
	s.space()
	if !s.object(0) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

func (s *reviewScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object scans an object at s.i; level is 0 for the document, 1 for its
// "request" member, -1 elsewhere.
func (s *reviewScanner) object(level int) bool {
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		start := s.i
		escaped, ok := s.str()
		if !ok {
			return false
		}
		name := s.b[start+1 : s.i-1]
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if !s.member(level, name, escaped) {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
			continue
		case '}':
			s.i++
			s.depth--
			return true
		}
		return false
	}
}

// member scans the value of the member name of an object at level.
func (s *reviewScanner) member(level int, name []byte, escaped bool) bool {
	if level < 0 {
		return s.value()
	}
	if escaped {
		return false // a name written with escapes could be one of ours
	}
	if level == 0 {
		if string(name) != "request" {
			return s.value()
		}
		if s.seen[len(rawFields)] {
			return false // given twice: encoding/json merges the two
		}
		s.seen[len(rawFields)] = true
		if s.i < len(s.b) && s.b[s.i] == '{' {
			return s.object(1)
		}
		return s.value()
	}
	for f, want := range rawFields {
		if string(name) != want {
			continue
		}
		if s.seen[f] {
			return false
		}
		s.seen[f] = true
		start := s.i
		if !s.value() {
			return false
		}
		s.raws = append(s.raws, rawMember{start: start, end: s.i, field: f})
		return true
	}
	return s.value()
}

func (s *reviewScanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(-1)
	case c == '[':
		return s.array()
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *reviewScanner) array() bool {
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	s.i++ // '['
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.value() {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
			continue
		case ']':
			s.i++
			s.depth--
			return true
		}
		return false
	}
}

// str scans a string at s.i: no control characters, only JSON's escapes
// (any other byte, invalid UTF-8 included, is accepted, as encoding/json
// does); it reports whether the string had escapes.
func (s *reviewScanner) str() (escaped, ok bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false, false
	}
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, true
		case c < 0x20:
			return false, false
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false, false
					}
				}
				s.i += 6
			default:
				return false, false
			}
		default:
			s.i++
		}
	}
	return false, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number scans -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *reviewScanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *reviewScanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *reviewScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}
