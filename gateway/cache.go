package gateway

import (
	"container/list"
	"sync"
	"time"
)

// ttlCache is a size-bounded LRU whose entries also expire after a fixed TTL.
type ttlCache[K comparable, V any] struct {
	mu    sync.Mutex
	ttl   time.Duration
	size  int
	now   func() time.Time
	order *list.List // front: most recently used
	items map[K]*list.Element
}

type ttlEntry[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, size int) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, size: size, now: time.Now, order: list.New(), items: map[K]*list.Element{}}
}

// get returns the unexpired value of k.
func (c *ttlCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*ttlEntry[K, V])
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// put stores v under k, evicting the least recently used entry when full.
func (c *ttlCache[K, V]) put(k K, v V) { c.putFor(k, v, c.ttl) }

// putFor is put for at most ttl (the cache's own TTL if ttl is longer).
func (c *ttlCache[K, V]) putFor(k K, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(min(ttl, c.ttl))
	if el, ok := c.items[k]; ok {
		e := el.Value.(*ttlEntry[K, V])
		e.value, e.expires = v, exp
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.size {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*ttlEntry[K, V]).key)
	}
	c.items[k] = c.order.PushFront(&ttlEntry[K, V]{key: k, value: v, expires: exp})
}

// len is the number of entries held, expired or not.
func (c *ttlCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
