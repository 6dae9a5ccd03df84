package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// refreshPatchInterval is the least time between two annotation patches of one object.
const refreshPatchInterval = 3 * time.Second

// leaderRefresher is the gateway's Refresher on a shared token store, where every replica
// serves the gateway but only the leader's reconcilers run (and spend refresh tokens). On the
// leader it hands requests to the reconcilers in process (Signals). Elsewhere it asks the
// leader through the API: a merge patch of mcpproxy.dev/refresh-requested-at on the
// UpstreamServer, or on the UpstreamCredential a request names, which the reconcilers honour
// whenever its value differs from status.lastHandledRefreshRequest. It never refreshes.
//
// A non-leader forwards only refreshes of a rejected revision: a look (revision zero) is what
// the leader's reconciler does by itself, and the annotation would force a refresh. Requests
// coalesce per object: at most one patch per refreshPatchInterval, a request within the
// interval is folded into one patch at its end. RequestRefresh never blocks.
type leaderRefresher struct {
	elected <-chan struct{}
	local   upstream.Refresher
	client  client.Client
	log     logr.Logger
	every   time.Duration // refreshPatchInterval but in tests

	mu      sync.Mutex
	last    map[refreshTarget]time.Time // when each object was last patched
	pending map[refreshTarget]bool      // a patch is scheduled
}

// refreshTarget is the object a request is patched onto.
type refreshTarget struct {
	credential bool
	types.NamespacedName
}

func newLeaderRefresher(elected <-chan struct{}, local upstream.Refresher, c client.Client, log logr.Logger) *leaderRefresher {
	return &leaderRefresher{elected: elected, local: local, client: c, log: log, every: refreshPatchInterval,
		last: map[refreshTarget]time.Time{}, pending: map[refreshTarget]bool{}}
}

var _ upstream.Refresher = (*leaderRefresher)(nil)

// RequestRefresh implements upstream.Refresher.
func (r *leaderRefresher) RequestRefresh(req upstream.RefreshRequest) {
	select {
	case <-r.elected:
		r.local.RequestRefresh(req)
		return
	default:
	}
	if req.RejectedRevision == 0 {
		return
	}
	t := refreshTarget{NamespacedName: req.Server}
	if req.Credential != "" {
		t = refreshTarget{credential: true, NamespacedName: types.NamespacedName{Namespace: req.Server.Namespace, Name: req.Credential}}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[t] {
		return
	}
	r.pending[t] = true
	delay := time.Until(r.last[t].Add(r.every))
	go r.patchAfter(t, delay)
}

// patchAfter waits delay, then patches t's annotation once.
func (r *leaderRefresher) patchAfter(t refreshTarget, delay time.Duration) {
	if delay > 0 {
		time.Sleep(delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.patch(ctx, t)
	r.mu.Lock()
	r.last[t] = time.Now()
	delete(r.pending, t)
	r.mu.Unlock()
	if err != nil {
		r.log.Error(err, "Failed to ask the leader for a refresh", "credential", t.credential, "object", t.String())
		return
	}
	r.log.Info("Asked the leader for a refresh", "credential", t.credential, "object", t.String())
}

func (r *leaderRefresher) patch(ctx context.Context, t refreshTarget) error {
	var obj client.Object = &mcpv1alpha1.UpstreamServer{}
	if t.credential {
		obj = &mcpv1alpha1.UpstreamCredential{}
	}
	obj.SetNamespace(t.Namespace)
	obj.SetName(t.Name)
	body := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`,
		mcpv1alpha1.AnnotationRefreshRequestedAt, time.Now().UTC().Format(time.RFC3339Nano))
	if err := r.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(body))); err != nil {
		return fmt.Errorf("annotating %s: %w", t.NamespacedName, err)
	}
	return nil
}
