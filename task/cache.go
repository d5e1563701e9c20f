package task

import (
	"container/list"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"
	"sync"

	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"google.golang.org/protobuf/proto"
)

// decoded is a decoded template with its decoded custom message, both shared
// read-only between requests.
type decoded struct {
	key      string
	template *core.TaskTemplate
	mu       sync.Mutex
	custom   proto.Message
	pods     map[*structpb.Struct]*corev1.PodSpec
}

// templateCache is a small LRU of decoded templates keyed by the annotation
// text: the same task version is submitted many times, and protobuf JSON
// decoding is the largest cost of an expansion.
type templateCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recent; values are *decoded
	byKey map[string]*list.Element
}

func newTemplateCache(max int) *templateCache {
	return &templateCache{max: max, order: list.New(), byKey: make(map[string]*list.Element, max)}
}

func (c *templateCache) get(key string) *decoded {
	if c == nil || c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*decoded)
	}
	return nil
}

func (c *templateCache) put(d *decoded) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[d.key]; ok {
		return
	}
	c.byKey[d.key] = c.order.PushFront(d)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*decoded).key)
	}
}

// cache is the process-wide template cache.
// DefaultCacheSize is the number of decoded templates kept by default.
const DefaultCacheSize = 512

var cache = newTemplateCache(DefaultCacheSize)

// SetCacheSize changes the number of decoded templates kept (0 disables the
// cache; benchmarks use it to measure cold decoding).
func SetCacheSize(n int) {
	cache = newTemplateCache(n)
}
