package expand

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"github.com/flyte-admission/flyte-admission/jsonenc"
)

// fieldPlan is how encodeFields treats one struct field: its index, its JSON
// name and options, read once per type from the json tag.
type fieldPlan struct {
	index     int
	name      string
	omitempty bool
	inline    bool // an embedded struct whose fields are encoded in place
}

// fieldPlans caches the plan of each struct type (reflect.Type → []fieldPlan).
var fieldPlans sync.Map

func plansOf(t reflect.Type) []fieldPlan {
	if p, ok := fieldPlans.Load(t); ok {
		return p.([]fieldPlan)
	}
	var plans []fieldPlan
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		p := fieldPlan{index: i, name: name, omitempty: strings.Contains(opts, "omitempty")}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			p.inline = true
		} else if name == "" {
			p.name = f.Name
		}
		plans = append(plans, p)
	}
	fieldPlans.Store(t, plans)
	return plans
}

// fieldEncoder encodes values into one shared buffer, each a slice of it: the
// fields of an expansion are written together, so one growing buffer replaces
// an allocation per field.
type fieldEncoder struct {
	buf []byte
}

func newFieldEncoder() *fieldEncoder {
	return &fieldEncoder{buf: make([]byte, 0, 4096)}
}

// encode returns v's JSON encoding, as json.Marshal writes it.
func (e *fieldEncoder) encode(v any) (json.RawMessage, error) {
	start := len(e.buf)
	b, err := jsonenc.Append(e.buf, v)
	if err != nil {
		return nil, err
	}
	e.buf = b
	end := len(b)
	// The full slice expression keeps appends to one value off the next. When
	// the buffer grows, the values already returned keep the old array.
	return json.RawMessage(b[start:end:end]), nil
}

// encodeFields encodes the top-level fields of a struct one by one, following
// their json tags (name, omitempty, inline), so that each is available as raw
// JSON without scanning the whole encoding again.
func encodeFields(v reflect.Value, out map[string]any) error {
	return newFieldEncoder().fields(v, out)
}

func (e *fieldEncoder) fields(v reflect.Value, out map[string]any) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	for _, p := range plansOf(v.Type()) {
		fv := v.Field(p.index)
		if p.inline {
			if err := e.fields(fv, out); err != nil {
				return err
			}
			continue
		}
		if p.omitempty && isEmptyValue(fv) {
			continue
		}
		// Through a pointer, as when the whole object is encoded: no copy of
		// the field, and the same methods apply.
		if fv.CanAddr() {
			fv = fv.Addr()
		}
		data, err := e.encode(fv.Interface())
		if err != nil {
			return err
		}
		out[p.name] = data
	}
	return nil
}

// isEmptyValue is encoding/json's omitempty rule.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}
