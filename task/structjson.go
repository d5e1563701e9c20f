package task

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/flyte-admission/flyte-admission/internal/jsonenc"
	"google.golang.org/protobuf/types/known/structpb"
)

// appendStruct appends the JSON encoding of s to buf: what protojson.Marshal
// writes for a Struct (keys sorted, numbers as encoding/json formats them,
// NaN, infinities and invalid UTF-8 refused), without protojson's reflection,
// which dominated decoding a template's custom fields and pod specs.
func appendStruct(buf []byte, s *structpb.Struct) ([]byte, error) {
	fields := s.GetFields()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendString(buf, k); err != nil {
			return nil, err
		}
		buf = append(buf, ':')
		if buf, err = appendValue(buf, fields[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return append(buf, '}'), nil
}

func appendValue(buf []byte, v *structpb.Value) ([]byte, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return append(buf, "null"...), nil
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(buf, k.BoolValue), nil
	case *structpb.Value_NumberValue:
		return appendNumber(buf, k.NumberValue)
	case *structpb.Value_StringValue:
		return appendString(buf, k.StringValue)
	case *structpb.Value_StructValue:
		return appendStruct(buf, k.StructValue)
	case *structpb.Value_ListValue:
		buf = append(buf, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendValue(buf, e); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	return nil, fmt.Errorf("value has no kind")
}

// appendNumber formats f as encoding/json (and protojson) do.
func appendNumber(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("invalid number %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf, nil
}

// appendString appends s as a JSON string, refusing invalid UTF-8 as
// protojson does (the escaping is jsonenc's: it decodes to the same string).
func appendString(buf []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("invalid UTF-8 in string %q", truncate(s, 40))
	}
	return jsonenc.AppendString(buf, s), nil
}
