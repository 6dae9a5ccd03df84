package controllers

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// lastSeen remembers, per object, the resourceVersion a reconcile left it at: what it read, or
// what its own patches returned. A reconcile needs the object at least as fresh as it left it
// (status carries failure memory and handled requests; deciding on a copy older than our own
// last patch would write stale facts back), and the informer's copy is that fresh whenever its
// resourceVersion is not older than the one we left. Resource versions of one resource compare
// as integers (k8s.io/apimachinery's resourceversion). Then the reconcile skips its GET, one API
// round trip of every refresh: one woken by its requeue, and one woken by an event (a refresh
// request, say), whose object the cache already holds. A copy the cache has not caught up with
// yet, or one we cannot compare, is read from the API server, as before. A newer write the cache
// has not seen yet brings its own event, and with it another reconcile.
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

// read fills obj with key's object: the cache's copy when it is not older than the one last
// noted, otherwise the API server's. It reports which one it used.
func (l *lastSeen) read(ctx context.Context, cache, api client.Reader, key types.NamespacedName, obj client.Object) (cached bool, err error) {
	if rv, ok := l.get(key); ok && rv != "" {
		if err := cache.Get(ctx, key, obj); err == nil {
			if cmp, err := resourceversion.CompareResourceVersion(obj.GetResourceVersion(), rv); err == nil && cmp >= 0 {
				return true, nil
			}
		}
	}
	return false, api.Get(ctx, key, obj)
}
