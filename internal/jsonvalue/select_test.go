package jsonvalue

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeSelected(t *testing.T) {
	head := Selection{"kind": nil, "metadata": {"annotations": nil}}
	for _, tc := range []struct {
		name, in string
		want     map[string]any
		fellBack bool
	}{
		{name: "head of an object", in: `{"kind":"RayJob","spec":{"x":[1,2,{"y":"\u00e9\n"}]},"metadata":{"name":"n","annotations":{"a":"b"},"managedFields":[{}]}}`,
			want: map[string]any{"kind": "RayJob", "metadata": map[string]any{"annotations": map[string]any{"a": "b"}}}},
		{name: "a selected member that is no object is kept whole", in: `{"metadata":"x"}`, want: map[string]any{"metadata": "x"}},
		{name: "escaped names are matched decoded", in: `{"\u006bind":"K","sp\u0065c":1}`, want: map[string]any{"kind": "K"}},
		{name: "a repeated name: the last wins", in: `{"kind":"a","kind":"b"}`, want: map[string]any{"kind": "b"}},
		{name: "invalid UTF-8 in a skipped string is taken", in: "{\"s\":\"\xff\",\"kind\":\"k\"}", want: map[string]any{"kind": "k"}},
		{name: "a control character in a skipped string is refused", in: "{\"s\":\"\x01\"}", fellBack: true},
		{name: "a bad escape in a skipped string is refused", in: `{"s":"\x"}`, fellBack: true},
		{name: "a bad number in a skipped value is refused", in: `{"s":[01]}`, fellBack: true},
		{name: "deeply nested skipped values fall back", in: `{"s":` + strings.Repeat("[", 150) + strings.Repeat("]", 150) + `,"kind":"k"}`,
			want: map[string]any{"kind": "k"}, fellBack: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fell []string
			fallbackHook = func(what string) { fell = append(fell, what) }
			defer func() { fallbackHook = nil }()
			got, err := DecodeSelected([]byte(tc.in), head)
			require.Equal(t, tc.fellBack, len(fell) > 0, "fell back: %v", fell)
			checkSelected(t, []byte(tc.in), head)
			if tc.want != nil {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
			}
		})
	}
}

// TestDecodeSelectedAllocations: what is skipped costs no allocation,
// however large; what is kept is allocated as DecodeObject would.
func TestDecodeSelectedAllocations(t *testing.T) {
	sel := Selection{"kind": nil}
	allocs := func(n int) float64 {
		data := []byte(`{"kind":"K","spec":{"a":[` + strings.Repeat(`{"name":"x","value":"\u00e9 some text"},`, n) + `1]}}`)
		return testing.AllocsPerRun(20, func() {
			if _, err := DecodeSelected(data, sel); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(1), allocs(1000)
	require.Equal(t, small, large, "allocations for 1 and for 1,000 skipped objects")
	require.LessOrEqual(t, large, 4.0, "the map (2), the kind string and the map in an interface")
}
