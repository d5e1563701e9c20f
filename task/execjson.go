package task

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"unicode/utf8"
)

// executionFallbackHook, when set (by tests), is called each time
// decodeExecutionJSON hands its input to encoding/json.
var executionFallbackHook func()

// decodeExecutionJSON decodes the JSON of an execution annotation as
// decodeExecutionStd does. The common form (each field once, under its exact
// name, with a value of its own JSON type) is decoded directly; anything else
// is left to encoding/json, whose result and error are returned.
func decodeExecutionJSON(data string) (Execution, error) {
	if e, ok := decodeExecutionFast(data); ok {
		return e, nil
	}
	if h := executionFallbackHook; h != nil {
		h()
	}
	return decodeExecutionStd([]byte(data))
}

// decodeExecutionStd decodes the first JSON value of data into an Execution
// with encoding/json, refusing unknown fields.
func decodeExecutionStd(data []byte) (Execution, error) {
	var e Execution
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&e)
	return e, err
}

// The fields of Execution, as bits of the set of fields seen.
const (
	fieldProject = 1 << iota
	fieldDomain
	fieldName
	fieldNode
	fieldRetryAttempt
	fieldNamespace
	fieldServiceAccount
	fieldInterruptible
	fieldInputPrefix
	fieldOutputPrefix
	fieldRawOutputPrefix
	fieldCheckpointPrefix
	fieldPreviousCheckpointPrefix
	fieldTaskTemplatePath
	fieldLabels
	fieldAnnotations
	fieldEnvironment
)

// execParser decodes the plain form of an execution annotation; every
// method returns false at anything else.
type execParser struct {
	data string // its strings are slices of it: no copies
	pos  int
}

// decodeExecutionFast decodes a JSON object whose members each name a field
// of Execution exactly (as its json tag spells it), at most once, with a
// string, a string map, true/false/null for interruptible or a plain integer
// within uint32 for retryAttempt; strings without escapes. What follows the
// object is not read, as with json.Decoder.
func decodeExecutionFast(data string) (e Execution, ok bool) {
	p := execParser{data: data}
	p.skipSpace()
	if !p.consume('{') {
		return e, false
	}
	p.skipSpace()
	if p.consume('}') {
		return e, true
	}
	var seen uint32
	for {
		key, ok := p.str()
		if !ok {
			return e, false
		}
		p.skipSpace()
		if !p.consume(':') {
			return e, false
		}
		p.skipSpace()
		var field uint32
		switch string(key) {
		case "project":
			field = fieldProject
			e.Project, ok = p.str()
		case "domain":
			field = fieldDomain
			e.Domain, ok = p.str()
		case "name":
			field = fieldName
			e.Name, ok = p.str()
		case "node":
			field = fieldNode
			e.Node, ok = p.str()
		case "retryAttempt":
			field = fieldRetryAttempt
			e.RetryAttempt, ok = p.uint32()
		case "namespace":
			field = fieldNamespace
			e.Namespace, ok = p.str()
		case "serviceAccount":
			field = fieldServiceAccount
			e.ServiceAccount, ok = p.str()
		case "interruptible":
			field = fieldInterruptible
			e.Interruptible, ok = p.boolOrNull()
		case "inputPrefix":
			field = fieldInputPrefix
			e.InputPrefix, ok = p.str()
		case "outputPrefix":
			field = fieldOutputPrefix
			e.OutputPrefix, ok = p.str()
		case "rawOutputPrefix":
			field = fieldRawOutputPrefix
			e.RawOutputPrefix, ok = p.str()
		case "checkpointPrefix":
			field = fieldCheckpointPrefix
			e.CheckpointPrefix, ok = p.str()
		case "previousCheckpointPrefix":
			field = fieldPreviousCheckpointPrefix
			e.PreviousCheckpointPrefix, ok = p.str()
		case "taskTemplatePath":
			field = fieldTaskTemplatePath
			e.TaskTemplatePath, ok = p.str()
		case "labels":
			field = fieldLabels
			e.Labels, ok = p.stringMap()
		case "annotations":
			field = fieldAnnotations
			e.Annotations, ok = p.stringMap()
		case "environment":
			field = fieldEnvironment
			e.Environment, ok = p.stringMap()
		}
		// An unknown or case-folded name, a repeated field (encoding/json
		// merges maps), a value of another type: not ours.
		if !ok || field == 0 || seen&field != 0 {
			return e, false
		}
		seen |= field
		p.skipSpace()
		if p.consume('}') {
			return e, true
		}
		if !p.consume(',') {
			return e, false
		}
		p.skipSpace()
	}
}

func (p *execParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *execParser) consume(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// str decodes a string without escapes or control characters, in valid
// UTF-8 (so that encoding/json would keep its bytes as they are).
func (p *execParser) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start, ascii := p.pos, true
	for i := start; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			s := p.data[start:i]
			if !ascii && !utf8.ValidString(s) {
				return "", false
			}
			p.pos = i + 1
			return s, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// uint32 decodes a JSON integer without sign, fraction or exponent that fits
// a uint32 (what encoding/json stores in one, by strconv.ParseUint).
func (p *execParser) uint32() (uint32, bool) {
	start := p.pos
	var n uint64
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		n = n*10 + uint64(p.data[p.pos]-'0')
		p.pos++
		if n > math.MaxUint32 {
			return 0, false
		}
	}
	digits := p.pos - start
	if digits == 0 || digits > 1 && p.data[start] == '0' {
		return 0, false // no number, or a leading zero
	}
	if p.pos < len(p.data) {
		if c := p.data[p.pos]; c == '.' || c == 'e' || c == 'E' {
			return 0, false // a float, which encoding/json refuses for a uint32
		}
	}
	return uint32(n), true
}

func (p *execParser) boolOrNull() (*bool, bool) {
	rest := p.data[p.pos:]
	switch {
	case strings.HasPrefix(rest, "true"):
		p.pos += len("true")
		b := true
		return &b, true
	case strings.HasPrefix(rest, "false"):
		p.pos += len("false")
		b := false
		return &b, true
	case strings.HasPrefix(rest, "null"):
		p.pos += len("null")
		return nil, true
	}
	return nil, false
}

// stringMap decodes an object of strings ({} is an empty map, not nil, as
// encoding/json makes it). A repeated key takes the last value, as with
// encoding/json.
func (p *execParser) stringMap() (map[string]string, bool) {
	if !p.consume('{') {
		return nil, false
	}
	var kv [16][2]string
	pairs := kv[:0]
	p.skipSpace()
	if !p.consume('}') {
		for {
			k, ok := p.str()
			if !ok {
				return nil, false
			}
			p.skipSpace()
			if !p.consume(':') {
				return nil, false
			}
			p.skipSpace()
			v, ok := p.str()
			if !ok {
				return nil, false
			}
			pairs = append(pairs, [2]string{k, v})
			p.skipSpace()
			if p.consume('}') {
				break
			}
			if !p.consume(',') {
				return nil, false
			}
			p.skipSpace()
		}
	}
	m := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		m[kv[0]] = kv[1]
	}
	return m, true
}
