package gateway

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// objectIndex holds the objects of one kind as the manager's informer last delivered them, by
// namespace and name, so a request reads its UpstreamServer (and credential) without the
// cached client's per-call type lookup and deep copy. The objects are the informer's own:
// nothing may change them. It is exactly as fresh as the manager's cache (the informer calls
// its handlers once its store holds the change), and a name it does not hold is read from the
// client as before.
type objectIndex[T client.Object] struct {
	mu sync.RWMutex
	m  map[types.NamespacedName]T
}

func newObjectIndex[T client.Object]() *objectIndex[T] {
	return &objectIndex[T]{m: map[types.NamespacedName]T{}}
}

// get returns the object nn as the informer last delivered it.
func (x *objectIndex[T]) get(nn types.NamespacedName) (T, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	o, ok := x.m[nn]
	return o, ok
}

func (x *objectIndex[T]) set(obj any) {
	if o, ok := obj.(T); ok {
		x.mu.Lock()
		x.m[types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}] = o
		x.mu.Unlock()
	}
}

func (x *objectIndex[T]) remove(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if o, ok := obj.(T); ok {
		x.mu.Lock()
		delete(x.m, types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()})
		x.mu.Unlock()
	}
}

// watch fills the index from the informer of obj's kind until ctx ends; without informers
// (a gateway on its own) the index stays empty and every read goes to the client.
func (x *objectIndex[T]) watch(ctx context.Context, inf cache.Informers, obj T) error {
	if inf == nil {
		return nil
	}
	i, err := inf.GetInformer(ctx, obj)
	if err != nil {
		return err
	}
	reg, err := i.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    x.set,
		UpdateFunc: func(_, n any) { x.set(n) },
		DeleteFunc: x.remove,
	})
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = i.RemoveEventHandler(reg)
	}()
	return nil
}

// server reads UpstreamServer nn: from the index, else from the manager's cached client.
// The object returned may be the informer's own: read only.
func (g *Gateway) server(ctx context.Context, nn types.NamespacedName) (*mcpv1alpha1.UpstreamServer, error) {
	if us, ok := g.servers.get(nn); ok {
		return us, nil
	}
	us := &mcpv1alpha1.UpstreamServer{}
	if err := g.opts.Client.Get(ctx, nn, us); err != nil {
		return nil, err
	}
	return us, nil
}

// credential reads UpstreamCredential nn like server.
func (g *Gateway) credential(ctx context.Context, nn types.NamespacedName) (*mcpv1alpha1.UpstreamCredential, error) {
	if c, ok := g.credentials.get(nn); ok {
		return c, nil
	}
	c := &mcpv1alpha1.UpstreamCredential{}
	if err := g.opts.Client.Get(ctx, nn, c); err != nil {
		return nil, err
	}
	return c, nil
}
