package jsonvalue

// Selection names the members of a JSON object to decode: a member whose
// Selection is nil is decoded whole; one with a Selection, if it is an
// object, only as far as that Selection names.
type Selection map[string]Selection

// DecodeSelected is DecodeObject keeping only the members sel names. The
// others are checked as JSON and skipped without being decoded, so reading
// a few fields of a large object costs little more than scanning it. Errors
// are DecodeObject's.
func DecodeSelected(data []byte, sel Selection) (map[string]any, error) {
	if m, ok := decodeFast(data, func(d *decoder) (map[string]any, bool) { return d.selected(sel) }); ok {
		return m, nil
	}
	fellBack("DecodeSelected")
	m, err := DecodeObject(data)
	if m != nil {
		m = prune(m, sel)
	}
	return m, err
}

// prune keeps the members of m that sel names.
func prune(m map[string]any, sel Selection) map[string]any {
	out := make(map[string]any, len(sel))
	for k, v := range m {
		sub, ok := sel[k]
		if !ok {
			continue
		}
		if vm, isMap := v.(map[string]any); isMap && sub != nil {
			v = prune(vm, sub)
		}
		out[k] = v
	}
	return out
}

// selected decodes the object at d.pos, keeping the members sel names.
func (d *decoder) selected(sel Selection) (map[string]any, bool) {
	m := map[string]any{}
	if empty, ok := d.open('}'); !ok || empty {
		return m, ok
	}
	for more := true; more; {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, false
		}
		key, sub, keep, ok := d.selectKey(sel)
		if !ok || !d.colon() {
			return nil, false
		}
		switch {
		case !keep:
			ok = d.skipValue()
		case sub != nil && d.pos < len(d.data) && d.data[d.pos] == '{':
			m[key], ok = d.selected(sub)
		default:
			m[key], ok = d.value()
		}
		if !ok {
			return nil, false
		}
		if more, ok = d.next('}'); !ok {
			return nil, false
		}
	}
	return m, true
}

// selectKey reads the member name at d.pos: whether sel names it, with its
// Selection and (only then) its text. A name without escapes is looked up
// in place, without a copy.
func (d *decoder) selectKey(sel Selection) (key string, sub Selection, keep, ok bool) {
	data := d.data
	start := d.pos + 1
	i := start
	for i < len(data) && plainByte[data[i]] {
		i++
	}
	if i < len(data) && data[i] == '"' {
		d.pos = i + 1
		if sub, keep = sel[string(data[start:i])]; keep {
			key = string(data[start:i])
		}
		return key, sub, keep, true
	}
	if key, ok = d.strSlow(start, i); !ok {
		return "", nil, false, false
	}
	sub, keep = sel[key]
	return key, sub, keep, true
}

// skipValue checks the value at d.pos as JSON and moves past it.
func (d *decoder) skipValue() bool {
	if d.pos >= len(d.data) {
		return false
	}
	switch c := d.data[d.pos]; c {
	case '{', '[':
		return d.skipContainer()
	case '"':
		return d.skipString()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			end := numberEnd(d.data, d.pos)
			if end < 0 {
				return false
			}
			d.pos = end
			return true
		}
	}
	return false
}

// skipContainer checks the object or array at d.pos and moves past it.
func (d *decoder) skipContainer() bool {
	closing := byte(']')
	object := d.data[d.pos] == '{'
	if object {
		closing = '}'
	}
	if empty, ok := d.open(closing); !ok || empty {
		return ok
	}
	for more := true; more; {
		if object && (d.pos >= len(d.data) || d.data[d.pos] != '"' || !d.skipString() || !d.colon()) {
			return false
		}
		var ok bool
		if !d.skipValue() {
			return false
		}
		if more, ok = d.next(closing); !ok {
			return false
		}
	}
	return true
}

// skipString checks the string whose opening quote is at d.pos (escapes
// well formed, no control characters; any other byte is taken, as
// encoding/json takes it) and moves past it.
func (d *decoder) skipString() bool {
	data := d.data
	for i := d.pos + 1; i < len(data); {
		switch c := data[i]; {
		case c == '"':
			d.pos = i + 1
			return true
		case c == '\\':
			if i+1 >= len(data) {
				return false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(data, i) < 0 {
					return false
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		default:
			i++
		}
	}
	return false
}
