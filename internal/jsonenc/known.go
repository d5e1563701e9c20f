package jsonenc

import (
	"reflect"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
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
var knownMarshalers = map[reflect.Type]knownMarshaler{
	reflect.TypeFor[resource.Quantity]():  appendQuantity,
	reflect.TypeFor[intstr.IntOrString](): appendIntOrString,
	reflect.TypeFor[metav1.Time]():        appendTime,
}

// knownMarshaler appends the encoding of v, or reports false to have its
// MarshalJSON method called.
type knownMarshaler func(b []byte, v reflect.Value) ([]byte, bool)

// appendQuantity: MarshalJSON writes the quantity's canonical string, which
// String computes the same way (caching it, here in a copy).
func appendQuantity(b []byte, v reflect.Value) ([]byte, bool) {
	q, ok := reflect.TypeAssert[resource.Quantity](v)
	if !ok {
		return b, false
	}
	return appendQuantityValue(b, q)
}

func appendQuantityValue(b []byte, q resource.Quantity) ([]byte, bool) {
	s := q.String()
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' {
			return b, false
		}
	}
	b = append(b, '"')
	b = appendHTMLSafe(b, s)
	b = append(b, '"')
	return b, true
}

// appendIntOrString: MarshalJSON is json.Marshal of the int or of the string.
func appendIntOrString(b []byte, v reflect.Value) ([]byte, bool) {
	x, ok := reflect.TypeAssert[intstr.IntOrString](v)
	if !ok {
		return b, false
	}
	switch x.Type {
	case intstr.Int:
		b = strconv.AppendInt(b, int64(x.IntVal), 10)
	case intstr.String:
		b = appendString(b, x.StrVal)
	default:
		return b, false // the method fails
	}
	return b, true
}

// appendTime: MarshalJSON writes null for the zero time, else the time in UTC
// in RFC 3339 format as a string.
func appendTime(b []byte, v reflect.Value) ([]byte, bool) {
	t, ok := reflect.TypeAssert[metav1.Time](v)
	if !ok {
		return b, false
	}
	if t.IsZero() {
		b = append(b, "null"...)
		return b, true
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	return b, true
}

// encodeResourceList encodes a pod's resource requests or limits, which every
// generated pod has several of, without reflect's map iteration: the keys
// are sorted on the stack and the quantities written by appendQuantityValue.
func encodeResourceList(_ *encState, b []byte, v reflect.Value, _ bool) []byte {
	m, _ := reflect.TypeAssert[corev1.ResourceList](v)
	if m == nil {
		return append(b, "null"...)
	}
	var small [smallMap]corev1.ResourceName
	keys := small[:0] // on the heap past smallMap entries
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, string(k))
		b = append(b, ':')
		var ok bool
		if b, ok = appendQuantityValue(b, m[k]); !ok {
			giveUp()
		}
	}
	return append(b, '}')
}
