package jsonenc

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fuzzTargets are the types FuzzAppend builds values of; the first byte of
// the input picks one.
var fuzzTargets = []reflect.Type{
	reflect.TypeFor[sparkv1beta2.SparkApplication](),
	reflect.TypeFor[rayv1.RayJob](),
	reflect.TypeFor[daskv1.DaskJob](),
	reflect.TypeFor[corev1.PodSpec](),
	reflect.TypeFor[map[string]any](),
	reflect.TypeFor[fuzzOdd](),
}

// fuzzOdd gathers the hand-written types of the tests: methods with pointer
// receivers, field conflicts, omitzero, ,string, recursion, other map keys.
type fuzzOdd struct {
	Conflicts conflicts
	Twice     twice
	Zeroes    omitZeroes
	PtrM      []ptrMarshaler
	PtrMArr   [2]ptrMarshaler
	PtrMMap   map[string]ptrMarshaler
	ValM      *valMarshaler
	Text      map[string]ptrText
	TextArr   [1]ptrText
	VT        []valText
	JT        []ptrJSONValText
	JTMap     map[string]ptrJSONValText
	Quoted    *quoted
	Rec       *recursive
	IntKeys   map[int8]string
	TextKeys  namedMap
	Raw       json.RawMessage
	Num       json.Number
	Bad       *badJSON
	F32       []float32
	Bytes     []byte
	ByteArr   [4]byte
	Any       any
	Ifaces    structWithIface
}

// FuzzAppend fills a value of one of fuzzTargets from the fuzz input and
// checks that Append writes what json.Marshal writes (or fails with its
// error, or panics where it panics), for the value and its address, without
// a panic of its own along the way.
func FuzzAppend(f *testing.F) {
	f.Add([]byte{})
	for i := range fuzzTargets {
		f.Add([]byte{byte(i)})
		f.Add(append([]byte{byte(i)}, seedBytes(i, 64)...))
		f.Add(append([]byte{byte(i)}, seedBytes(i+10, 512)...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl := &filler{data: data}
		typ := fuzzTargets[int(fl.byte())%len(fuzzTargets)]
		ptr := reflect.New(typ)
		fl.fill(ptr.Elem(), 0)
		panicsBefore := panics.Load()
		requireSame(t, ptr.Interface())
		requireSame(t, ptr.Elem().Interface())
		if _, _, jsonPanicked := marshal(ptr.Interface()); !jsonPanicked {
			require.Equal(t, panicsBefore, panics.Load(), "Append panicked where encoding/json does not")
		}
	})
}

// seedBytes is a deterministic byte string for the seed corpus.
func seedBytes(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// filler builds values from a byte string: each choice consumes bytes, and
// an exhausted input chooses zero values, so short inputs make small values.
type filler struct {
	data []byte
}

// maxFillDepth bounds the nesting the filler creates.
const maxFillDepth = 10

func (f *filler) byte() byte {
	if len(f.data) == 0 {
		return 0
	}
	b := f.data[0]
	f.data = f.data[1:]
	return b
}

func (f *filler) bytes(n int) []byte {
	n = min(n, len(f.data))
	b := f.data[:n:n]
	f.data = f.data[n:]
	return b
}

func (f *filler) uint64() uint64 {
	var b [8]byte
	copy(b[:], f.bytes(8))
	return binary.LittleEndian.Uint64(b[:])
}

// pick returns a number below n.
func (f *filler) pick(n int) int { return int(f.byte()) % n }

var fuzzStrings = []string{
	"", "a", "name", "<script>&amp;</script>", "line\u2028sep\u2029", "\xff\xfe\xc3", "\x00\x01\x1f\x7f",
	"\"quoted\\slash\"", "\b\f\n\r\t", "é日本\U0001F600", "\ufffd", "100m", "1Gi", "0.5", "-1", "1e3",
	"spark.executor.memory", "true", "null", "{}", "[1,2]", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\u2028",
}

var fuzzJSON = []string{
	`null`, `true`, `false`, `0`, `-0`, `1.5e+10`, `"s"`, `"<&>\u2028"`, `{}`, `[]`, ` { "a" : [ 1 , 2 ] } `,
	`{"a":"<b>"}`, `{`, `01`, `1 2`, ``, `"\x"`, "\"\u2028\"", `[1,]`, `"` + "\xff" + `"`, "\t[\n]\r",
}

var fuzzFloats = []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1e20, 1e21, 1e-6, 1e-7, 123456.789,
	math.MaxFloat64, math.SmallestNonzeroFloat64, math.MaxFloat32, 1e-45, math.NaN(), math.Inf(1), 9.999999e-7}

var fuzzQuantities = []string{"0", "1", "100m", "1.5", "1Gi", "1.5Gi", "500Mi", "1e3", "1E3", "2k", "-3",
	"0.001", "12345678901234567890", "1.23456789012345678901", "1Ki", "7Ei", "1n", "+5", "0.1Ki"}

// fill sets v, which is settable, to a value chosen by the input.
func (f *filler) fill(v reflect.Value, depth int) {
	if len(f.data) == 0 {
		return // the zero value
	}
	if special, ok := fuzzSpecial[v.Type()]; ok {
		special(f, v)
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(f.byte()&1 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch f.pick(4) {
		case 0:
			v.SetInt(int64(int8(f.byte())))
		case 1:
			v.SetInt([]int64{0, -1, math.MaxInt64, math.MinInt64, math.MaxInt32, math.MinInt32}[f.pick(6)])
		default:
			v.SetInt(int64(f.uint64()))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(f.uint64())
	case reflect.Float32, reflect.Float64:
		if f.pick(2) == 0 {
			v.SetFloat(fuzzFloats[f.pick(len(fuzzFloats))])
		} else {
			v.SetFloat(math.Float64frombits(f.uint64()))
		}
	case reflect.String:
		v.SetString(f.string())
	case reflect.Pointer:
		if f.pick(4) == 0 || depth >= maxFillDepth {
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			f.fillBytes(v)
			return
		}
		n := f.pick(5) - 1 // -1: nil
		if n < 0 || depth >= maxFillDepth {
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			f.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			f.fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		n := f.pick(5) - 1
		if n < 0 || depth >= maxFillDepth {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), n)
		for i := 0; i < n; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k, depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		// Each field is filled or left zero by one byte's bits.
		var bits byte
		for i := 0; i < v.NumField(); i++ {
			if i%8 == 0 {
				bits = f.byte()
			}
			if bits&(1<<(i%8)) == 0 || !v.Type().Field(i).IsExported() {
				continue
			}
			f.fill(v.Field(i), depth+1)
		}
	case reflect.Interface:
		if v.NumMethod() == 0 {
			if x := f.anyValue(depth); x != nil {
				v.Set(reflect.ValueOf(x))
			}
		}
	}
}

func (f *filler) string() string {
	switch f.pick(3) {
	case 0:
		return string(f.bytes(f.pick(12)))
	default:
		return fuzzStrings[f.pick(len(fuzzStrings))]
	}
}

func (f *filler) fillBytes(v reflect.Value) {
	var b []byte
	switch f.pick(4) {
	case 0:
		return // nil
	case 1:
		b = []byte(fuzzJSON[f.pick(len(fuzzJSON))])
	default:
		b = append([]byte{}, f.bytes(f.pick(16))...)
	}
	v.SetBytes(b)
}

// anyValue is a value for an empty interface: what decoded JSON holds, and
// some values it does not.
func (f *filler) anyValue(depth int) any {
	switch f.pick(14) {
	case 0:
		return nil
	case 1:
		return f.string()
	case 2:
		return fuzzFloats[f.pick(len(fuzzFloats))]
	case 3:
		return f.byte()&1 == 1
	case 4:
		return json.Number(fuzzJSON[f.pick(len(fuzzJSON))])
	case 5:
		return json.RawMessage(fuzzJSON[f.pick(len(fuzzJSON))])
	case 6, 7:
		if depth >= maxFillDepth {
			return nil
		}
		n := f.pick(4)
		m := make(map[string]any, n)
		for i := 0; i < n; i++ {
			m[f.string()] = f.anyValue(depth + 1)
		}
		return m
	case 8, 9:
		if depth >= maxFillDepth {
			return nil
		}
		s := make([]any, f.pick(4))
		for i := range s {
			s[i] = f.anyValue(depth + 1)
		}
		return s
	case 10:
		return int64(f.uint64())
	case 11:
		return float32(fuzzFloats[f.pick(len(fuzzFloats))])
	case 12:
		q := f.quantity()
		if f.byte()&1 == 1 {
			return &q
		}
		return q
	default:
		return metav1.NewTime(f.time())
	}
}

func (f *filler) quantity() resource.Quantity {
	var q resource.Quantity
	switch f.pick(5) {
	case 0:
		return q
	case 1:
		q = *resource.NewQuantity(int64(f.uint64()), resource.Format([]string{"DecimalSI", "BinarySI", "DecimalExponent", ""}[f.pick(4)]))
	case 2:
		q = *resource.NewMilliQuantity(int64(int32(f.uint64())), resource.DecimalSI)
	case 3:
		q = *resource.NewScaledQuantity(int64(int16(f.uint64())), resource.Scale(int8(f.byte())%20))
	default:
		q = resource.MustParse(fuzzQuantities[f.pick(len(fuzzQuantities))])
	}
	if f.byte()&1 == 1 {
		_ = q.String() // cache the canonical form
	}
	return q
}

func (f *filler) time() time.Time {
	switch f.pick(3) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(int64(int32(f.uint64())), int64(f.uint64()%1e9)).In(time.FixedZone("", 3600*(f.pick(25)-12)))
	default:
		return time.Unix(int64(f.uint64()%(400*365*86400))-200*365*86400, 0).UTC()
	}
}

// fuzzSpecial fills types whose fields are unexported.
var fuzzSpecial = map[reflect.Type]func(f *filler, v reflect.Value){
	reflect.TypeFor[resource.Quantity](): func(f *filler, v reflect.Value) { v.Set(reflect.ValueOf(f.quantity())) },
	reflect.TypeFor[metav1.Time]():       func(f *filler, v reflect.Value) { v.Set(reflect.ValueOf(metav1.NewTime(f.time()))) },
	reflect.TypeFor[time.Time]():         func(f *filler, v reflect.Value) { v.Set(reflect.ValueOf(f.time())) },
	// Mostly valid: an invalid Type fails the whole encoding.
	reflect.TypeFor[intstr.IntOrString](): func(f *filler, v reflect.Value) {
		x := intstr.IntOrString{Type: intstr.Type(f.pick(9) / 4), IntVal: int32(f.uint64())}
		if x.Type != intstr.Int {
			x.StrVal = f.string()
		}
		v.Set(reflect.ValueOf(x))
	},
}
