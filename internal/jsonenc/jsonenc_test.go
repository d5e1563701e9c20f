package jsonenc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	daskv1 "github.com/dask/dask-kubernetes/v2023/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1"
	sparkv1beta2 "github.com/kubeflow/spark-operator/v2/api/v1beta2"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const conformanceDir = "../../cmd/flyte-admission/testdata/conformance"

// requireSame checks that Append writes what json.Marshal writes, or fails
// with its error, both into an empty buffer and after existing content.
func requireSame(t testing.TB, v any) {
	t.Helper()
	want, wantErr, panicked := marshal(v)
	if panicked {
		require.Panics(t, func() { _, _ = Append(nil, v) }, "json.Marshal panics")
		return
	}
	for _, prefix := range []string{"", "prefix"} {
		got, err := Append([]byte(prefix), v)
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error())
			require.Equal(t, prefix, string(got), "on error Append returns buf unchanged")
			continue
		}
		require.NoError(t, err)
		require.Equal(t, prefix+string(want), string(got))
	}
}

// marshal is json.Marshal, reporting a panic instead of panicking.
func marshal(v any) (b []byte, err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
		}
	}()
	b, err = json.Marshal(v)
	return b, err, false
}

// requireNative is requireSame where encoding/json must not have been
// needed: no fallback and no panic.
func requireNative(t testing.TB, v any) {
	t.Helper()
	before, panicsBefore := fallbacks.Load(), panics.Load()
	want, err := json.Marshal(v)
	require.NoError(t, err)
	got, err := Append(nil, v)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	require.Equal(t, before, fallbacks.Load(), "Append fell back to encoding/json")
	require.Equal(t, panicsBefore, panics.Load(), "Append panicked")
}

// conformanceObject is one object of the conformance cases, decoded into its
// typed form.
type conformanceObject struct {
	name string
	obj  any // *SparkApplication, *RayJob or *DaskJob
}

func conformanceObjects(t testing.TB) []conformanceObject {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*/*/expected.json", "*/*/object.json"} {
		m, err := filepath.Glob(filepath.Join(conformanceDir, pattern))
		require.NoError(t, err)
		files = append(files, m...)
	}
	var out []conformanceObject
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var head struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(data, &head))
		var obj any
		switch head.Kind {
		case "SparkApplication":
			obj = &sparkv1beta2.SparkApplication{}
		case "RayJob":
			obj = &rayv1.RayJob{}
		case "DaskJob":
			obj = &daskv1.DaskJob{}
		case "":
			continue // an error or a phase, not an object
		default:
			t.Fatalf("%s: unknown kind %q", f, head.Kind)
		}
		require.NoError(t, yaml.Unmarshal(data, obj), f)
		rel, _ := filepath.Rel(conformanceDir, f)
		out = append(out, conformanceObject{name: rel, obj: obj})
	}
	require.GreaterOrEqual(t, len(out), 15)
	return out
}

func TestConformanceObjects(t *testing.T) {
	for _, c := range conformanceObjects(t) {
		t.Run(c.name, func(t *testing.T) {
			requireNative(t, c.obj)
			requireNative(t, reflect.ValueOf(c.obj).Elem().Interface()) // not addressable
			spec := reflect.ValueOf(c.obj).Elem().FieldByName("Spec")
			for i := 0; i < spec.NumField(); i++ {
				f := spec.Field(i)
				t.Run(spec.Type().Field(i).Name, func(t *testing.T) {
					requireNative(t, f.Addr().Interface())
					requireNative(t, f.Interface())
				})
			}
		})
	}
}

// The conformance objects, decoded generically, as the patch code sees them.
func TestConformanceObjectsDecoded(t *testing.T) {
	for _, c := range conformanceObjects(t) {
		data, err := json.Marshal(c.obj)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		requireNative(t, m)
		d := json.NewDecoder(strings.NewReader(string(data)))
		d.UseNumber()
		var n any
		require.NoError(t, d.Decode(&n))
		requireNative(t, n)
	}
}

// Types for the hand-written cases.

type ptrMarshaler struct{ N int }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) {
	return []byte(` { "ptr" : ` + string(rune('0'+p.N%10)) + ` } `), nil
}

type valMarshaler struct{ S string }

func (v valMarshaler) MarshalJSON() ([]byte, error) { return json.Marshal("<" + v.S + ">") }

type ptrText struct{ S string }

func (p *ptrText) MarshalText() ([]byte, error) { return []byte("text:" + p.S + "<&>"), nil }

type valText int

func (v valText) MarshalText() ([]byte, error) {
	return []byte("v\u2028" + string(rune('a'+int(v)%26))), nil
}

// ptrJSONValText: JSON by pointer, text by value.
type ptrJSONValText struct{ A int }

func (p *ptrJSONValText) MarshalJSON() ([]byte, error) { return []byte(`"json"`), nil }
func (p ptrJSONValText) MarshalText() ([]byte, error)  { return []byte("text"), nil }

type failingMarshaler struct{}

func (failingMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("no <way>") }

type failingText struct{}

func (failingText) MarshalText() ([]byte, error) { return nil, errors.New("no text") }

type badJSON string

func (b badJSON) MarshalJSON() ([]byte, error) { return []byte(b), nil }

type zeroByValue struct{ N int }

func (z zeroByValue) IsZero() bool { return z.N%2 == 0 }

type zeroByPtr struct{ N int }

func (z *zeroByPtr) IsZero() bool { return z == nil || z.N < 0 }

type omitZeroes struct {
	Val    zeroByValue     `json:",omitzero"`
	Ptr    zeroByPtr       `json:",omitzero"`
	PtrP   *zeroByPtr      `json:",omitzero"`
	ValP   *zeroByValue    `json:",omitzero"`
	Iface  isZeroer        `json:",omitzero"`
	Time   time.Time       `json:",omitzero"`
	MTime  metav1.Time     `json:",omitzero"`
	MTimeP *metav1.Time    `json:",omitzero"`
	Plain  struct{ A int } `json:",omitzero"`
	Arr    [2]int          `json:",omitzero"`
	F      float64         `json:",omitzero"`
	Both   []int           `json:",omitempty,omitzero"`
}

type Inner struct {
	A int
	B string `json:"b"`
	C string
}

type Other struct {
	A int
	B string
	D string `json:"d,omitempty"`
}

type inner2 struct {
	X int `json:"x"`
	Y int
}

type conflicts struct {
	Inner        // A conflicts with Other.A: both dropped; b tagged beats Other's B
	*Other       // through a pointer
	inner2       // unexported, its fields promoted
	C      int   // shallower than Inner.C
	Named  Inner `json:"named"`
	Skip   int   `json:"-"`
	Dash   int   `json:"-,"`
	Bad    int   `json:"a\"b"`
	HTML   int   `json:"<&>"`
	priv   int
}

type twice struct {
	L1a
	L1b
}

type L1a struct{ Shared }
type L1b struct{ Shared }
type Shared struct{ S int }

type recursive struct {
	Name     string
	Children []*recursive `json:",omitempty"`
	Next     *recursive   `json:",omitempty"`
	Map      map[string]recursive
}

type quoted struct {
	N int     `json:",string"`
	S string  `json:",string"`
	P *int    `json:",string"`
	F float64 `json:"f,string"`
	B bool    `json:",string,omitempty"`
}

type textKey string

func (k textKey) MarshalText() ([]byte, error) { return []byte("key:" + string(k)), nil }

type namedMap map[textKey]int

type structWithIface struct {
	Any any
	M   json.Marshaler
	T   interface{ MarshalText() ([]byte, error) }
}

func TestHandWritten(t *testing.T) {
	num := 5
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	var nilPtrMarshaler *ptrMarshaler
	var nilValMarshaler *valMarshaler
	var nilMap map[string]int
	var nilSlice []string
	var nilIface any
	cyclic := &recursive{Name: "loop"}
	cyclic.Next = cyclic
	deep := &recursive{Name: "deep"}
	for i := 0; i < 1500; i++ {
		deep = &recursive{Next: deep}
	}
	set := metav1.NewTime(time.Date(2024, 2, 29, 12, 30, 45, 0, time.FixedZone("x", 3600)))

	cases := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"html", "<a href=\"x\">&amp;</a>"},
		{"invalid utf8", "a\xffb\xc3\x28c\xed\xa0\x80d\xf0\x90\x80"},
		{"separators", "line\u2028para\u2029end"},
		{"replacement char", "\ufffd\uFEFF"},
		{"all bytes", string(allBytes)},
		{"control", "\x00\x01\b\f\n\r\t\x1f\x7f\\\"/"},
		{"bytes", allBytes},
		{"empty bytes", []byte{}},
		{"byte array", [3]byte{1, 2, 3}},
		{"negative zero", math.Copysign(0, -1)},
		{"floats", []float64{1e21, 1e20, 1e-7, 1e-6, 123456789.125, -1.5e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1, 1e100}},
		{"float32s", []float32{1e21, 1e-7, 1e-6, 0.1, 3.4e38, 16777217, float32(math.Copysign(0, -1)), 9.999999e-7}},
		{"nan", math.NaN()},
		{"inf", []any{1, math.Inf(-1)}},
		{"float32 inf", float32(math.Inf(1))},
		{"ints", []any{int8(-128), int16(1), int32(-5), int64(math.MinInt64), uint8(255), uint64(math.MaxUint64), uintptr(7)}},
		{"embedded conflicts", conflicts{Inner: Inner{1, "b", "c"}, Other: &Other{2, "ob", "d"}, inner2: inner2{3, 4}, C: 5, HTML: 6}},
		{"embedded nil pointer", conflicts{}},
		{"embedded twice", twice{L1a{Shared{1}}, L1b{Shared{2}}}},
		{"omitzero zero", omitZeroes{Iface: (*zeroByPtr)(nil)}},
		{"omitzero set", omitZeroes{Val: zeroByValue{1}, Ptr: zeroByPtr{-1}, PtrP: &zeroByPtr{2}, ValP: &zeroByValue{2},
			Iface: zeroByValue{3}, Time: time.Unix(1, 0).UTC(), MTime: set, MTimeP: &metav1.Time{}, Arr: [2]int{0, 1}, F: math.Copysign(0, -1), Both: []int{}}},
		{"omitzero pointer", &omitZeroes{Ptr: zeroByPtr{3}, Iface: &zeroByPtr{-3}}},
		{"ptr marshaler value", ptrMarshaler{1}},
		{"ptr marshaler pointer", &ptrMarshaler{2}},
		{"ptr marshaler in slice", []ptrMarshaler{{3}, {4}}},
		{"ptr marshaler in array", [2]ptrMarshaler{{3}, {4}}},
		{"ptr marshaler in array pointer", &[2]ptrMarshaler{{3}, {4}}},
		{"ptr marshaler in map", map[string]ptrMarshaler{"a": {5}}},
		{"ptr marshaler pointer in map", map[string]*ptrMarshaler{"a": {5}, "nil": nil}},
		{"ptr marshaler in struct", struct{ M ptrMarshaler }{ptrMarshaler{6}}},
		{"ptr marshaler in struct pointer", &struct{ M ptrMarshaler }{ptrMarshaler{6}}},
		{"ptr marshaler in interface", []any{ptrMarshaler{7}, &ptrMarshaler{8}}},
		{"nil ptr marshaler", nilPtrMarshaler},
		{"nil val marshaler", nilValMarshaler},
		{"val marshaler", []valMarshaler{{"a&b"}}},
		{"val marshaler map", map[string]valMarshaler{"k": {"v"}}},
		{"ptr text", []any{ptrText{"x"}, &ptrText{"y"}, []ptrText{{"z"}}, map[string]ptrText{"m": {"w"}}}},
		{"val text", []valText{1, 2}},
		{"json by ptr, text by value", []any{ptrJSONValText{}, &ptrJSONValText{}, []ptrJSONValText{{}}, map[string]ptrJSONValText{"a": {}}}},
		{"failing marshaler", failingMarshaler{}},
		{"failing marshaler nested", map[string]any{"a": []any{failingMarshaler{}}}},
		{"failing text", []failingText{{}}},
		{"bad json", badJSON("{")},
		{"empty json", badJSON("")},
		{"two values", badJSON("1 2")},
		{"spaced json", badJSON(" [ 1 , \"<\u2028>\" , {\"a\" : null} ] ")},
		{"json with escapes", badJSON(`"a\"b\u0041<"`)},
		{"json number forms", []badJSON{"-0", "1.5e+10", "01", "1.", ".5", "-", "1e", "true", "nul", "\"\t\""}},
		{"nil map", nilMap},
		{"nil slice", nilSlice},
		{"nil interface", []any{nilIface}},
		{"nil pointers", struct {
			P *int
			M map[string]string
			S []int
			I any
		}{}},
		{"empty containers", struct {
			M map[string]string
			S []int
			A [0]int
		}{M: map[string]string{}, S: []int{}}},
		{"number", json.Number("-12.5e+3")},
		{"empty number", json.Number("")},
		{"bad number", json.Number("12a")},
		{"numbers in interface", []any{json.Number("1"), json.Number("0x1")}},
		{"raw", json.RawMessage(` { "a" : "<b>" , "c" : [ 1 , 2 ] } `)},
		{"raw nil", json.RawMessage(nil)},
		{"raw empty", json.RawMessage{}},
		{"raw bad", json.RawMessage(`{"a":}`)},
		{"raw pointer", &json.RawMessage{'1'}},
		{"raw in map", map[string]json.RawMessage{"a": json.RawMessage(`"\u2028 &"`), "b": nil}},
		{"metav1 time zero", metav1.Time{}},
		{"metav1 time set", set},
		{"metav1 time pointer", &set},
		{"metav1 times", map[string]any{"t": set, "p": &set, "z": metav1.Time{}, "n": (*metav1.Time)(nil)}},
		{"quantity", resource.MustParse("100m")},
		{"quantities", corev1.ResourceList{"cpu": resource.MustParse("1.5"), "memory": resource.MustParse("1Gi"), "x": *resource.NewQuantity(1e18, resource.DecimalSI)}},
		{"quantity zero", resource.Quantity{}},
		{"int or string", []intstr.IntOrString{intstr.FromInt32(8080), intstr.FromString("50%<"), {}}},
		{"map key order", map[string]int{"b": 1, "a": 2, "": 3, "B": 4, "é": 5, "<": 6, "\xff": 7}},
		{"map string keys typed", map[corev1.ResourceName]string{"z": "1", "a": "2"}},
		{"map int keys", map[int]string{10: "a", 9: "b", -1: "c"}},
		{"map text keys", namedMap{"b": 1, "a": 2}},
		{"map any", map[string]any{"s": "x", "f": 1.5, "b": true, "n": nil, "l": []any{"a", 1.0, map[string]any{}}, "m": map[string]any{"k": "v"}}},
		{"nested maps", map[string]map[string]map[string]int{"a": {"b": {"c": 1}, "a": nil}, "0": {}}},
		{"big string map", bigMap(40, func(i int) string { return strings.Repeat("v<", i%5) })},
		{"big any map", bigMap(40, func(i int) any { return []any{i, bigMap(i%20, func(j int) any { return j })} })},
		{"big typed map", func() corev1.ResourceList {
			m := corev1.ResourceList{}
			for k, q := range bigMap(30, func(i int) resource.Quantity { return *resource.NewQuantity(int64(i), resource.DecimalSI) }) {
				m[corev1.ResourceName(k)] = q
			}
			return m
		}()},
		{"unsupported chan", make(chan int)},
		{"unsupported func", struct{ F func() }{}},
		{"unsupported omitted", struct {
			F func()   `json:",omitzero"`
			C chan int `json:"-"`
		}{}},
		{"unsupported complex", []complex128{1}},
		{"unsupported map key", map[[2]int]int{}},
		{"cycle", cyclic},
		{"deep", deep},
		{"recursive", &recursive{Name: "root", Children: []*recursive{{Name: "a"}, nil}, Map: map[string]recursive{"x": {Name: "y"}}}},
		{"quoted", quoted{N: 1, S: "s<\"", P: &num, F: 1.5, B: true}},
		{"quoted nil", &quoted{}},
		{"interfaces", structWithIface{Any: &num, M: valMarshaler{"m"}, T: valText(3)}},
		{"nil interfaces", structWithIface{}},
		{"typed nil in interface", structWithIface{M: nilPtrMarshaler, T: (*ptrText)(nil)}},
		{"pointer to pointer", func() any { p := &num; return &p }()},
		{"pod spec", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}}},
		{"empty struct", struct{}{}},
		{"anonymous fields", struct {
			error
			fmtStringer interface{ String() string }
		}{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { requireSame(t, c.v) })
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	return ok && slices.ContainsFunc(bi.Settings, func(s debug.BuildSetting) bool {
		return s.Key == "-race" && s.Value == "true"
	})
}

// bigMap has n entries, keyed by the decimal of their index (so not in
// insertion order once sorted).
func bigMap[V any](n int, val func(int) V) map[string]V {
	m := make(map[string]V, n)
	for i := range n {
		m[strconv.Itoa(i)] = val(i)
	}
	return m
}

// The common path allocates nothing once buf has room. What remains is
// inside resource.Quantity: a quantity that was not parsed from its canonical
// form computes that form (and allocates) for each encoding, as its
// MarshalJSON does; here they are made to cache it first.
func TestNoAllocations(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector makes sync.Pool drop items, and allocates")
	}
	buf := make([]byte, 0, 64<<10)
	for _, c := range conformanceObjects(t) {
		cacheQuantities(reflect.ValueOf(c.obj))
		for _, v := range []any{c.obj, reflect.ValueOf(c.obj).Elem().FieldByName("Spec").Addr().Interface()} {
			_, err := Append(buf, v)
			require.NoError(t, err)
			require.Zero(t, testing.AllocsPerRun(20, func() { _, _ = Append(buf, v) }), c.name)
		}
	}
	m := map[string]any{"a": "b", "c": []any{1.0, true, nil, map[string]any{"d": "e"}}}
	require.Zero(t, testing.AllocsPerRun(20, func() { _, _ = Append(buf, m) }))
	ss := map[string]string{"z": "1", "a": "2"}
	require.Zero(t, testing.AllocsPerRun(20, func() { _, _ = Append(buf, ss) }))
}

// cacheQuantities calls String on every addressable resource.Quantity in v,
// which caches its canonical form.
func cacheQuantities(v reflect.Value) {
	if q, ok := reflect.TypeAssert[*resource.Quantity](v); ok && q != nil {
		_ = q.String()
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			cacheQuantities(v.Elem())
		}
	case reflect.Struct:
		if v.CanAddr() && v.Type() == reflect.TypeFor[resource.Quantity]() {
			cacheQuantities(v.Addr())
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				cacheQuantities(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			cacheQuantities(v.Index(i))
		}
	case reflect.Map:
		if v.Type().Elem() == reflect.TypeFor[resource.Quantity]() {
			for it := v.MapRange(); it.Next(); {
				q := it.Value().Interface().(resource.Quantity)
				_ = q.String()
				v.SetMapIndex(it.Key(), reflect.ValueOf(q))
			}
			return
		}
		for it := v.MapRange(); it.Next(); {
			cacheQuantities(it.Value())
		}
	}
}

// The known marshalers write what the types' MarshalJSON methods write.
func TestKnownMarshalers(t *testing.T) {
	var values []any
	for _, s := range []string{"0", "1", "-1", "1.5", "100m", "0.1", "1e3", "1E3", "1.5Gi", "1Ki", "500Mi",
		"12345678901234567890", "1.23456789012345678901234567890", "9223372036854775807", "-9223372036854775808",
		"0.000000001", "1n", "1u", "1Ei", "7E"} {
		q := resource.MustParse(s)
		cached := q
		_ = cached.String()
		values = append(values, q, &q, []resource.Quantity{q}, map[string]resource.Quantity{"q": q}, cached)
	}
	values = append(values,
		resource.Quantity{}, (*resource.Quantity)(nil),
		*resource.NewQuantity(5, resource.BinarySI), *resource.NewMilliQuantity(1500, resource.DecimalSI),
		*resource.NewScaledQuantity(3, 9), *resource.NewScaledQuantity(-7, -3), *resource.NewQuantity(1<<40, resource.BinarySI),
		*resource.NewQuantity(1e15, resource.DecimalExponent),
	)
	for _, x := range []intstr.IntOrString{intstr.FromInt32(0), intstr.FromInt32(-5), intstr.FromInt32(math.MaxInt32),
		intstr.FromString(""), intstr.FromString("50%"), intstr.FromString("<\\u2028\u2028\xff\"\n>"), {Type: 7}} {
		values = append(values, x, &x, []intstr.IntOrString{x})
	}
	for _, tm := range []time.Time{{}, time.Unix(0, 0), time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.FixedZone("", -7*3600)),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))} {
		mt := metav1.NewTime(tm)
		values = append(values, mt, &mt, []metav1.Time{mt}, map[string]*metav1.Time{"t": &mt})
	}
	for _, v := range values {
		requireSame(t, v)
	}
}

func TestStructFields(t *testing.T) {
	names := func(v any) []string {
		var out []string
		for _, f := range structFields(reflect.TypeOf(v)) {
			out = append(out, f.name)
		}
		return out
	}
	// A conflicts between Inner and Other, so neither is encoded; Inner.b is
	// tagged, Other.B is not but is another name; C is shallower than Inner.C.
	require.Equal(t, []string{"b", "B", "d", "x", "Y", "C", "named", "-", "Bad", "<&>"}, names(conflicts{}))
	require.Empty(t, names(twice{}))
}

func TestIsNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "1.5": true, "1e5": true, "1E+5": true, "-1.25e-3": true, "123": true,
		"": false, "-": false, "01": false, "1.": false, ".1": false, "1e": false, "1e+": false,
		"+1": false, "0x1": false, "1 ": false, "NaN": false, "1.e5": false,
	} {
		require.Equal(t, want, isNumber(s), s)
	}
}

// benchObjects are the conformance objects of BenchmarkAppend.
var benchObjects = []string{"spark/basic", "ray/logs_sidecar_config", "dask/basic"}

// BenchmarkAppend compares Append into a reused buffer with json.Marshal on
// whole conformance objects and on their specs' top-level fields, one by one
// as expand encodes them.
func BenchmarkAppend(b *testing.B) {
	objs := map[string]any{}
	for _, c := range conformanceObjects(b) {
		objs[strings.TrimSuffix(c.name, "/expected.json")] = c.obj
	}
	for _, name := range benchObjects {
		obj := objs[name]
		require.NotNil(b, obj, name)
		spec := reflect.ValueOf(obj).Elem().FieldByName("Spec")
		var fields []any
		for i := 0; i < spec.NumField(); i++ {
			fields = append(fields, spec.Field(i).Addr().Interface())
		}
		b.Run(name+"/object/jsonenc", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = Append(buf[:0], obj); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run(name+"/object/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := json.Marshal(obj)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.SetBytes(int64(n))
		})
		b.Run(name+"/fields/jsonenc", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = buf[:0]
				for _, f := range fields {
					var err error
					if buf, err = Append(buf, f); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(name+"/fields/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, f := range fields {
					if _, err := json.Marshal(f); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// needsWork finds the bytes a string cannot hold verbatim, wherever they are
// in the word and whatever the other bytes are.
func TestNeedsWork(t *testing.T) {
	fill := []byte("abcdefgh")
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, other := range []byte{'a', ' ', '~', 0x7f, '!', '=', '?'} {
				b := append([]byte{}, fill...)
				for i := range b {
					b[i] = other
				}
				b[pos] = byte(c)
				want := !verbatim[other] || c >= utf8.RuneSelf || !verbatim[c]
				require.Equal(t, want, needsWork(word(b, 0)), "byte %#x at %d among %q", c, pos, other)
			}
		}
	}
	x := uint64(1)
	for range 100000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], x)
		want := false
		for _, c := range b {
			want = want || c >= utf8.RuneSelf || !verbatim[c]
		}
		require.Equal(t, want, needsWork(x), "%q", b)
	}
}

// omitKinds has a field of each kind with omitempty and with omitzero, for
// the tests of emptiness read from memory (addressable) and through reflect.
type omitKinds struct {
	B    bool              `json:",omitempty"`
	I8   int8              `json:",omitempty"`
	I16  int16             `json:",omitempty"`
	I32  int32             `json:",omitempty"`
	I    int               `json:",omitempty"`
	U8   uint8             `json:",omitempty"`
	U16  uint16            `json:",omitempty"`
	U64  uint64            `json:",omitempty"`
	UP   uintptr           `json:",omitempty"`
	F32  float32           `json:",omitempty"`
	F64  float64           `json:",omitempty"`
	S    string            `json:",omitempty"`
	Sl   []int             `json:",omitempty"`
	M    map[string]int    `json:",omitempty"`
	P    *int              `json:",omitempty"`
	A    any               `json:",omitempty"`
	Ar   [0]int            `json:",omitempty"`
	Ar1  [1]int            `json:",omitempty"`
	St   struct{}          `json:",omitempty"`
	ZB   bool              `json:",omitzero"`
	ZI16 int16             `json:",omitzero"`
	ZF32 float32           `json:",omitzero"`
	ZF64 float64           `json:",omitzero"`
	ZS   string            `json:",omitzero"`
	ZSl  []int             `json:",omitzero"`
	ZM   map[string]int    `json:",omitzero"`
	ZP   *int              `json:",omitzero"`
	ZA   any               `json:",omitzero"`
	ZAr  [2]int            `json:",omitzero"`
	ZSt  struct{ X int }   `json:",omitzero"`
	ZC   complex64         `json:",omitzero"`
	EZ   map[string]string `json:",omitempty,omitzero"`
}

func TestOmitKinds(t *testing.T) {
	n := 0
	negZero := math.Copysign(0, -1)
	set := omitKinds{B: true, I8: -1, I16: 256, I32: 1 << 20, I: -1 << 40, U8: 1, U16: 1 << 15, U64: 1 << 63, UP: 1,
		F32: float32(negZero), F64: negZero, S: "s", Sl: []int{}, M: map[string]int{}, P: &n, A: 0, Ar1: [1]int{},
		ZB: true, ZI16: -1, ZF32: float32(negZero), ZF64: 1e-300, ZS: " ", ZSl: []int{}, ZM: map[string]int{}, ZP: &n,
		ZA: (*int)(nil), ZAr: [2]int{0, 1}, ZSt: struct{ X int }{1}, EZ: map[string]string{}}
	full := set
	full.Sl, full.M, full.F64, full.ZF32 = []int{1}, map[string]int{"a": 1}, 2, 1
	for _, v := range []omitKinds{{}, set, full} {
		requireSame(t, v)
		requireSame(t, &v)
		requireSame(t, []omitKinds{v})
		requireSame(t, map[string]omitKinds{"v": v})
		requireSame(t, []any{v})
	}
}

// Append is safe for concurrent use, first uses of a type included (the
// recursive type's stand-in encoder).
func TestConcurrent(t *testing.T) {
	type node struct {
		Name string
		Kids []node
		M    map[string]*node
	}
	objs := conformanceObjects(t)
	v := &node{Name: "a", Kids: []node{{Name: "b"}}, M: map[string]*node{"c": {Name: "c"}}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				x := any(v)
				if i%2 == 0 {
					x = objs[(g+i)%len(objs)].obj
				}
				want, _ := json.Marshal(x)
				got, err := Append(nil, x)
				if err != nil || string(got) != string(want) {
					errs <- fmt.Errorf("%T: %v\n%s\n%s", x, err, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestAppendMembers checks that AppendMembers writes what Append writes and
// reports each member of the object with its encoding, for the conformance
// objects' specs (our struct encoder), a delegated type, a Marshaler, a nil
// pointer and a value encoding/json refuses.
func TestAppendMembers(t *testing.T) {
	check := func(t *testing.T, v any) {
		t.Helper()
		want, wantErr := json.Marshal(v)
		got := map[string]string{}
		var order []string
		out, err := AppendMembers([]byte("p"), v, func(name string, value []byte) {
			got[name] = string(value)
			order = append(order, name)
			require.Equal(t, len(value), cap(value), "member %q could grow into the next", name)
		})
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error())
			require.Equal(t, "p", string(out))
			return
		}
		require.NoError(t, err)
		require.Equal(t, "p"+string(want), string(out))
		var members map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(want, &members))
		require.Len(t, got, len(members), "members reported: %v", order)
		for name, raw := range members {
			require.Equal(t, string(raw), got[name], "member %q", name)
		}
	}
	for _, c := range conformanceObjects(t) {
		spec := reflect.ValueOf(c.obj).Elem().FieldByName("Spec").Addr().Interface()
		t.Run(c.name, func(t *testing.T) { check(t, spec) })
	}
	t.Run("delegated", func(t *testing.T) { check(t, &quoted{}) })
	t.Run("marshaler", func(t *testing.T) { check(t, marshalsItself{}) })
	t.Run("nil pointer", func(t *testing.T) { check(t, (*corev1.PodSpec)(nil)) })
	t.Run("refused", func(t *testing.T) { check(t, struct{ F float64 }{math.NaN()}) })
	t.Run("not an object", func(t *testing.T) {
		_, err := AppendMembers(nil, []int{1}, func(string, []byte) {})
		require.Error(t, err)
	})
}

// TestResourceLists checks the native encoder of corev1.ResourceList against
// encoding/json: empty, nil, small, past the stack array, keys to escape,
// quantities parsed and computed.
func TestResourceLists(t *testing.T) {
	big := corev1.ResourceList{}
	for i := range smallMap + 4 {
		big[corev1.ResourceName(fmt.Sprintf("example.com/r%02d", i))] = *resource.NewQuantity(int64(i*1000+7), resource.DecimalSI)
	}
	for name, rl := range map[string]corev1.ResourceList{
		"nil":      nil,
		"empty":    {},
		"small":    {corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		"computed": {"nvidia.com/gpu": *resource.NewMilliQuantity(2500, resource.DecimalSI), "x<&>": *resource.NewQuantity(1<<40, resource.BinarySI)},
		"big":      big,
	} {
		t.Run(name, func(t *testing.T) {
			requireNative(t, rl)
			requireNative(t, corev1.ResourceRequirements{Requests: rl, Limits: rl})
		})
	}
}
