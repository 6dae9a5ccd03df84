package controllers

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastSeen remembers, per object, the resourceVersion a reconcile left it at: what it read, or
// what its own patches returned. A reconcile needs the object as fresh as the API server has it
// (status carries failure memory and handled requests; deciding on a copy older than our own
// last patch would write stale facts back), but the informer's copy is that fresh whenever its
// resourceVersion is still the one we left: nothing was written since. Then the reconcile skips
// its GET, one API round trip of every routine refresh. A copy that differs (the cache lags our
// patch, or someone else wrote) is read from the API server, as before.
type lastSeen struct {
	mu sync.Mutex
	rv map[types.NamespacedName]string
}

// note records the resourceVersion obj was left at.
func (l *lastSeen) note(obj client.Object) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rv == nil {
		l.rv = map[types.NamespacedName]string{}
	}
	l.rv[client.ObjectKeyFromObject(obj)] = obj.GetResourceVersion()
}

// forget drops key (the object is gone).
func (l *lastSeen) forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.rv, key)
}

func (l *lastSeen) get(key types.NamespacedName) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rv, ok := l.rv[key]
	return rv, ok
}

// read fills obj with key's object: the cache's copy when it is still the one last noted,
// otherwise the API server's. It reports which one it used.
func (l *lastSeen) read(ctx context.Context, cache, api client.Reader, key types.NamespacedName, obj client.Object) (cached bool, err error) {
	if rv, ok := l.get(key); ok && rv != "" {
		if err := cache.Get(ctx, key, obj); err == nil && obj.GetResourceVersion() == rv {
			return true, nil
		}
	}
	return false, api.Get(ctx, key, obj)
}
