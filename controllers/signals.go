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
// whose upstream rejected a token) into the work queues, so the reconcilers stay the only ones
// that act on them. A request for a credential (RefreshRequest.Credential) goes to the
// credential reconciler's queue, any other to the server reconciler's. Requests never block
// and coalesce: a work queue holds each object once, and of several rejected revisions only
// the newest is kept for observe to read.
type Signals struct {
	servers, credentials signalQueue
}

// signalQueue is one controller's side of Signals.
type signalQueue struct {
	mu       sync.Mutex
	queue    workqueue.TypedRateLimitingInterface[reconcile.Request]
	early    map[types.NamespacedName]struct{}
	rejected map[types.NamespacedName]uint64
}

// NewSignals returns Signals whose requests wait until the controllers start.
func NewSignals() *Signals {
	s := &Signals{}
	for _, q := range []*signalQueue{&s.servers, &s.credentials} {
		q.early, q.rejected = map[types.NamespacedName]struct{}{}, map[types.NamespacedName]uint64{}
	}
	return s
}

var _ upstream.Refresher = (*Signals)(nil)

// Wake asks for a reconcile of the server key ("namespace/name"): mcpconn.Pool's callback.
func (s *Signals) Wake(key string) { s.servers.enqueue(upstream.ParseSessionKey(key)) }

// RequestRefresh asks for a refresh of a rejected revision (or, with revision zero, a look),
// of a server's shared token or of one of its credentials.
func (s *Signals) RequestRefresh(req upstream.RefreshRequest) {
	q, nn := &s.servers, req.Server
	if req.Credential != "" {
		q, nn = &s.credentials, types.NamespacedName{Namespace: req.Server.Namespace, Name: req.Credential}
	}
	if req.RejectedRevision != 0 {
		q.mu.Lock()
		if req.RejectedRevision > q.rejected[nn] {
			q.rejected[nn] = req.RejectedRevision
		}
		q.mu.Unlock()
	}
	q.enqueue(nn)
}

// rejectedRevision is the newest revision reported rejected for server nn, or zero.
func (s *Signals) rejectedRevision(nn types.NamespacedName) uint64 {
	return s.servers.rejectedRevision(nn)
}

// handled forgets a rejection of server nn once a reconcile acted on revision rev (or a newer one).
func (s *Signals) handled(nn types.NamespacedName, rev uint64) { s.servers.handled(nn, rev) }

// source feeds the server controller's work queue.
func (s *Signals) source() source.Source { return s.servers.source() }

func (q *signalQueue) rejectedRevision(nn types.NamespacedName) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rejected[nn]
}

func (q *signalQueue) handled(nn types.NamespacedName, rev uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r, ok := q.rejected[nn]; ok && r <= rev {
		delete(q.rejected, nn)
	}
}

func (q *signalQueue) enqueue(nn types.NamespacedName) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queue == nil {
		q.early[nn] = struct{}{}
		return
	}
	q.queue.Add(reconcile.Request{NamespacedName: nn})
}

func (q *signalQueue) source() source.Source {
	return source.Func(func(_ context.Context, wq workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.queue = wq
		for nn := range q.early {
			wq.Add(reconcile.Request{NamespacedName: nn})
		}
		q.early = nil
		return nil
	})
}
