package expand

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// drainPatchBuffers empties the free list and returns what it held.
func drainPatchBuffers() (n, bytes int) {
	for {
		select {
		case b := <-patchBuffers:
			n, bytes = n+1, bytes+cap(b)
		default:
			return n, bytes
		}
	}
}

func TestRecyclePatchIsBounded(t *testing.T) {
	drainPatchBuffers()
	defer drainPatchBuffers()

	for range 1000 {
		RecyclePatch(make([]byte, 10, maxRecycledPatch))
	}
	RecyclePatch(make([]byte, 0, maxRecycledPatch+1)) // too large to keep
	RecyclePatch(nil)
	n, bytes := drainPatchBuffers()
	require.Equal(t, recycledPatches, n, "buffers kept after 1,000 were given back")
	require.Equal(t, recycledPatches*maxRecycledPatch, bytes)
	require.LessOrEqual(t, bytes, 2<<20)
}

func TestPatchBufferReusesARecycledOne(t *testing.T) {
	drainPatchBuffers()
	defer drainPatchBuffers()

	given := make([]byte, 100, 4096)
	RecyclePatch(given)
	got := patchBuffer(1000)
	require.Empty(t, got)
	require.Equal(t, 4096, cap(got))
	require.Same(t, &given[:1][0], &got[:1][0], "the recycled buffer is handed out again")

	RecyclePatch(given)
	bigger := patchBuffer(8192) // the one at hand is too small: a new one
	require.GreaterOrEqual(t, cap(bigger), 8192)
	require.NotSame(t, &given[:1][0], &bigger[:1][0])
}
