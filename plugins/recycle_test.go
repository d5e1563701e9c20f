package plugins

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecycled(t *testing.T) {
	type scratch struct {
		name string
		refs []int
	}
	r := NewRecycled[scratch](2)
	a := r.Get()
	a.name, a.refs = "a", []int{1}
	r.Put(a)
	b := r.Get()
	require.Same(t, a, b, "a value put back is handed out again")
	require.Equal(t, scratch{}, *b, "zeroed: it holds nothing of its last use")

	for range 10 {
		r.Put(&scratch{name: "x"})
	}
	require.Len(t, r.free, 2, "at most its capacity is kept")
	r.Get()
	r.Get()
	require.NotNil(t, r.Get(), "an empty list makes a new value")
}

func TestRecycledPutBackTakesOnlyItsOwn(t *testing.T) {
	type mine struct{ n int }
	type other struct{ n int }
	r := NewRecycled[mine](2)
	r.PutBack(&other{n: 1})
	r.PutBack("a string")
	require.Empty(t, r.free, "a value of another type is left alone")
	m := &mine{n: 1}
	r.PutBack(m)
	require.Len(t, r.free, 1)
	require.Zero(t, m.n)
}
