package controllers

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// Signals carries in-process requests (a live session that dropped or saw a 401, a gateway
// whose upstream rejected a token) into the work queue, so the reconciler stays the only one
// that acts on them. Requests never block and coalesce: the work queue holds each server once,
// and of several rejected revisions only the newest is kept for observe to read.
type Signals struct {
	mu       sync.Mutex
	queue    workqueue.TypedRateLimitingInterface[reconcile.Request]
	early    map[types.NamespacedName]struct{}
	rejected map[types.NamespacedName]uint64
}

// NewSignals returns Signals whose requests wait until the controller starts.
func NewSignals() *Signals {
	return &Signals{early: map[types.NamespacedName]struct{}{}, rejected: map[types.NamespacedName]uint64{}}
}

var _ upstream.Refresher = (*Signals)(nil)

// Wake asks for a reconcile of the server key ("namespace/name"): mcpconn.Pool's callback.
func (s *Signals) Wake(key string) { s.enqueue(upstream.ParseSessionKey(key)) }

// RequestRefresh asks for a refresh of a rejected revision (or, with revision zero, a look).
func (s *Signals) RequestRefresh(req upstream.RefreshRequest) {
	if req.RejectedRevision != 0 {
		s.mu.Lock()
		if req.RejectedRevision > s.rejected[req.Server] {
			s.rejected[req.Server] = req.RejectedRevision
		}
		s.mu.Unlock()
	}
	s.enqueue(req.Server)
}

// rejectedRevision is the newest revision reported rejected for nn, or zero.
func (s *Signals) rejectedRevision(nn types.NamespacedName) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected[nn]
}

// handled forgets a rejection once a reconcile acted on revision rev (or a newer one).
func (s *Signals) handled(nn types.NamespacedName, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rejected[nn]; ok && r <= rev {
		delete(s.rejected, nn)
	}
}

func (s *Signals) enqueue(nn types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queue == nil {
		s.early[nn] = struct{}{}
		return
	}
	s.queue.Add(reconcile.Request{NamespacedName: nn})
}

// source feeds the controller's work queue.
func (s *Signals) source() source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queue = q
		for nn := range s.early {
			q.Add(reconcile.Request{NamespacedName: nn})
		}
		s.early = nil
		return nil
	})
}
