package task

import (
	"sync"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/lru"
)

// decoded is a decoded template with its decoded custom message, both shared
// read-only between requests.
type decoded struct {
	key      string
	template *core.TaskTemplate
	// cost is what the entry is charged in the cache, in bytes.
	cost   int64
	mu     sync.Mutex
	custom proto.Message
	// customJSON is the template's custom member as written, when decoding
	// it as it is gives what the Struct's round trip would (integersOnly).
	customJSON string
	pods       map[*structpb.Struct]*corev1.PodSpec
}

// bytesPerValue is what one decoded protobuf value costs, at most: a
// structpb.Value with its kind (80 bytes), its slot in a list or map, and
// the allocator's rounding.
const bytesPerValue = 128

// templateCache is an LRU of decoded templates keyed by the annotation
// text, bounded in bytes: the same task version is submitted many times, and
// decoding is the largest cost of an expansion.
type templateCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	lru   *lru.Cache
}

func newTemplateCache(maxBytes int64) *templateCache {
	c := &templateCache{max: maxBytes}
	c.lru = lru.NewWithEvictionFunc(0, func(_ lru.Key, v any) { c.bytes -= v.(*decoded).cost })
	return c
}

func (c *templateCache) get(key string) *decoded {
	if c == nil || c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.lru.Get(key); ok {
		return v.(*decoded)
	}
	return nil
}

func (c *templateCache) put(d *decoded) {
	if c == nil || d.cost > c.max/8 {
		return // one entry may take an eighth of the cache at most
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.lru.Get(d.key); ok {
		return
	}
	c.lru.Add(d.key, d)
	c.bytes += d.cost
	for c.bytes > c.max {
		c.lru.RemoveOldest()
	}
}

// size returns the entries and bytes held.
func (c *templateCache) size() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// DefaultCacheBytes bounds the memory of the decoded templates kept.
const DefaultCacheBytes = 32 << 20

// cache is the process-wide template cache.
var cache = newTemplateCache(DefaultCacheBytes)

// SetCacheBytes replaces the template cache with an empty one bounded to n
// bytes (0 disables it; benchmarks use that to measure cold decoding).
func SetCacheBytes(n int64) {
	cache = newTemplateCache(n)
}
