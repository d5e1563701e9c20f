package jsonenc

import (
	"reflect"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// knownMarshalers holds, for the Kubernetes types with a MarshalJSON method
// that every generated object has (resource quantities, int-or-string ports
// and times), a function that appends what encoding/json makes of that
// method's output without calling it: the methods allocate their results,
// these append to the buffer. Each reports false to have the real method
// called instead; TestKnownMarshalers compares them with the methods.
var knownMarshalers = map[reflect.Type]func(e *encState, v reflect.Value) bool{
	reflect.TypeFor[resource.Quantity]():  appendQuantity,
	reflect.TypeFor[intstr.IntOrString](): appendIntOrString,
	reflect.TypeFor[metav1.Time]():        appendTime,
}

// appendQuantity: MarshalJSON writes the quantity's canonical string, which
// String computes the same way (caching it, here in a copy).
func appendQuantity(e *encState, v reflect.Value) bool {
	q, ok := reflect.TypeAssert[resource.Quantity](v)
	if !ok {
		return false
	}
	s := q.String()
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' {
			return false
		}
	}
	e.buf = append(e.buf, '"')
	e.buf = appendHTMLSafe(e.buf, s)
	e.buf = append(e.buf, '"')
	return true
}

// appendIntOrString: MarshalJSON is json.Marshal of the int or of the string.
func appendIntOrString(e *encState, v reflect.Value) bool {
	x, ok := reflect.TypeAssert[intstr.IntOrString](v)
	if !ok {
		return false
	}
	switch x.Type {
	case intstr.Int:
		e.buf = strconv.AppendInt(e.buf, int64(x.IntVal), 10)
	case intstr.String:
		e.buf = appendString(e.buf, x.StrVal)
	default:
		return false // the method fails
	}
	return true
}

// appendTime: MarshalJSON writes null for the zero time, else the time in UTC
// in RFC 3339 format as a string.
func appendTime(e *encState, v reflect.Value) bool {
	t, ok := reflect.TypeAssert[metav1.Time](v)
	if !ok {
		return false
	}
	if t.IsZero() {
		e.buf = append(e.buf, "null"...)
		return true
	}
	e.buf = append(e.buf, '"')
	e.buf = t.UTC().AppendFormat(e.buf, time.RFC3339)
	e.buf = append(e.buf, '"')
	return true
}
