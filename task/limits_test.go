package task

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// allocated returns the bytes f allocates (the most it can hold at once).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// aliasBomb is a YAML template of one large scalar and many aliases to it:
// about size bytes of YAML that stand for scalar*aliases bytes of JSON.
func aliasBomb(scalar, aliases int) string {
	var b strings.Builder
	b.WriteString("type: spark\nmetadata:\n  discoveryVersion: &a \"")
	b.WriteString(strings.Repeat("x", scalar))
	b.WriteString("\"\ncustom:\n  l: [")
	for i := range aliases {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("*a")
	}
	b.WriteString("]\n")
	return b.String()
}

// nestedLaughs is the classic billion laughs: each level lists the one
// below ten times.
func nestedLaughs(levels int) string {
	var b strings.Builder
	b.WriteString("type: spark\ncustom:\n  l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// numberList is a JSON template whose custom holds n numbers.
func numberList(n int) string {
	return `{"type":"ray","custom":{"l":[` + strings.TrimSuffix(strings.Repeat("1,", n), ",") + `]}}`
}

func TestDecodeTemplateAmplification(t *testing.T) {
	cases := []struct {
		name, text string
		wantErr    string
	}{
		{"alias to a large scalar", aliasBomb(30_000, 11_000), "stands for more than"},
		{"alias to a small scalar, many times", aliasBomb(2_000, 20_000), "stands for more than"},
		{"YAML over its limit", aliasBomb(120_000, 46_000), "bytes of YAML, more than the 65536 allowed"},
		{"nested laughs", nestedLaughs(8), "stands for more than"},
		{"a long list of numbers", numberList(120_000), "more than 32768 values"},
		{"many aliases to a list", "type: spark\ncustom:\n  a: &a [1,2,3,4,5,6,7,8,9,10]\n  l: [" + strings.Repeat("*a,", 4_000) + "*a]\n", "stands for more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.LessOrEqual(t, len(c.text), MaxAnnotationBytes, "the input must be within the annotation limit")
			var err error
			n := allocated(func() { _, err = DecodeTemplate(c.text) })
			require.ErrorContains(t, err, c.wantErr)
			require.ErrorContains(t, err, TemplateField)
			// Refused having done work proportional to its own size, not to
			// what it stands for.
			require.Less(t, n, uint64(256*min(len(c.text), MaxYAMLBytes)+1<<20), "allocated %d bytes for %d bytes of input", n, len(c.text))
		})
	}
}

func TestDecodeTemplateWithinLimits(t *testing.T) {
	// Aliases are fine while what they stand for stays small, and a
	// template of many values up to the limit decodes.
	tt, err := DecodeTemplate("type: spark\nmetadata: {discoveryVersion: &v abc}\ncustom: {a: *v, b: *v}\n")
	require.NoError(t, err)
	require.Equal(t, "abc", tt.GetCustom().GetFields()["b"].GetStringValue())
	tt, err = DecodeTemplate(numberList(30_000))
	require.NoError(t, err)
	require.Len(t, tt.GetCustom().GetFields()["l"].GetListValue().GetValues(), 30_000)
}

func TestYAMLBudget(t *testing.T) {
	require.Equal(t, 4*1000+4096, yamlBudget(1000))
	require.Equal(t, MaxTemplateJSONBytes, yamlBudget(MaxAnnotationBytes))
	// The measure never counts less than what the conversion gives.
	for _, s := range []string{
		"a: b\n", "a: [1, 2, 'x\"y']\n", "a: &x {b: [c, d]}\ne: *x\nf: *x\n", "? a\n: b\n", "a: \"\\x01\\u2028<>&\"\n", "a:\nb:\n", "a: [1e20, y, n, ~, 0x10, 1e300]\n",
	} {
		require.NoError(t, checkYAMLSize(s), s)
		data, err := toJSON(s)
		require.NoError(t, err, s)
		var m yamlMeasureProbe
		require.GreaterOrEqual(t, m.size(t, s), len(data), s)
	}
}

// yamlMeasureProbe exposes the measured size of a document.
type yamlMeasureProbe struct{}

func (yamlMeasureProbe) size(t *testing.T, s string) int {
	t.Helper()
	n, err := measureYAML(s)
	require.NoError(t, err)
	return n
}

func TestCacheBoundedInBytes(t *testing.T) {
	SetCacheBytes(8 << 20)
	defer SetCacheBytes(DefaultCacheBytes)
	// 40 distinct templates of 3,000 values (6 KB of text each, about
	// 0.8 MB decoded): together far more than the cache may hold.
	for i := range 40 {
		tk, err := New("a", "ns", map[string]string{TemplateAnnotation: fmt.Sprintf(`{"type":"ray","metadata":{"discoveryVersion":"%d"},`, i) + numberList(3_000)[len(`{"type":"ray",`):]})
		require.NoError(t, err)
		tk.Keep()
		entries, bytes := cache.size()
		require.LessOrEqual(t, bytes, int64(8<<20))
		require.LessOrEqual(t, entries, 11)
	}
	entries, bytes := cache.size()
	require.Positive(t, entries)
	require.Positive(t, bytes)
	// One entry may take an eighth of the cache at most.
	SetCacheBytes(1 << 20)
	tk, err := New("a", "ns", map[string]string{TemplateAnnotation: numberList(30_000)})
	require.NoError(t, err)
	tk.Keep()
	entries, _ = cache.size()
	require.Zero(t, entries)
}

func TestCacheKeepsOnlyWhatExpanded(t *testing.T) {
	SetCacheBytes(DefaultCacheBytes)
	ann := map[string]string{TemplateAnnotation: `{"type":"dask","container":{"image":"kept-or-not"}}`}
	a, err := New("a", "ns", ann)
	require.NoError(t, err)
	b, err := New("b", "ns", ann)
	require.NoError(t, err)
	require.NotSame(t, a.Template, b.Template, "nothing is cached before Keep")
	b.Keep()
	c, err := New("c", "ns", ann)
	require.NoError(t, err)
	require.Same(t, b.Template, c.Template)
}

func TestGrow(t *testing.T) {
	tk := &Task{}
	require.NoError(t, tk.Grow("f", MaxObjectBytes))
	err := tk.Grow("spec.x", 1)
	require.ErrorContains(t, err, "spec.x")
	require.ErrorContains(t, err, "more than 1572864 bytes")
}
