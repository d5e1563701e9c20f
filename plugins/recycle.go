package plugins

// Recycled is a bounded free list of the values an expansion builds its
// object in. An expansion's typed object is garbage as soon as it has been
// encoded, and on a small expansion its few kilobytes are a fifth of what it
// allocates, with the garbage collection that follows. The list keeps at
// most its capacity of values; Put zeroes a value before keeping it, so a
// kept value holds nothing else alive.
type Recycled[T any] struct {
	free chan *T
}

// NewRecycled returns a free list that keeps at most n values.
func NewRecycled[T any](n int) *Recycled[T] {
	return &Recycled[T]{free: make(chan *T, n)}
}

// Get returns a zero value: a kept one, or a new one.
func (r *Recycled[T]) Get() *T {
	select {
	case x := <-r.free:
		return x
	default:
		return new(T)
	}
}

// Put zeroes x and keeps it if there is room. Nothing may use x after.
func (r *Recycled[T]) Put(x *T) {
	var zero T
	*x = zero
	select {
	case r.free <- x:
	default:
	}
}

// PutBack puts obj back (see Put) if it is one of the values r hands out,
// and leaves any other value alone.
func (r *Recycled[T]) PutBack(obj any) {
	if x, ok := obj.(*T); ok {
		r.Put(x)
	}
}
