package expand

// Patch buffers are recycled: a small expansion's patch is a fifth of the
// bytes it allocates, and on a webhook every allocated byte costs about as
// much again in garbage collection. The free list is a buffered channel, so
// what it keeps is bounded in count and in bytes, whatever the load.
const (
	// recycledPatches is how many patch buffers are kept for reuse.
	recycledPatches = 32
	// maxRecycledPatch is the largest patch buffer kept: a larger one is
	// left to the garbage collector.
	maxRecycledPatch = 64 << 10
)

// patchBuffers holds at most recycledPatches × maxRecycledPatch bytes (2 MiB).
var patchBuffers = make(chan []byte, recycledPatches)

// patchBuffer returns an empty buffer of at least size bytes' capacity: a
// recycled one if the next one at hand is large enough, else a new one.
func patchBuffer(size int) []byte {
	select {
	case b := <-patchBuffers:
		if cap(b) >= size {
			return b[:0]
		}
	default:
	}
	return make([]byte, 0, size)
}

// RecyclePatch gives the buffer of a patch (Result.PatchJSON) back for the
// next expansions, once it has been written out. Neither the patch nor
// anything of its Result may be used after that: the next expansion
// overwrites it.
func RecyclePatch(patch []byte) {
	if cap(patch) == 0 || cap(patch) > maxRecycledPatch {
		return
	}
	select {
	case patchBuffers <- patch[:0]:
	default: // the list is full
	}
}
