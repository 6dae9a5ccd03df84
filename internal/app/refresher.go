package app

import (
	"context"
	"fmt"
	"strconv"
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
// leader it hands requests to the reconcilers in process (Signals). Elsewhere it tells the
// leader through the API: a merge patch of mcpproxy.dev/rejected-revision (the revision the
// upstream rejected) on the UpstreamServer, or on the UpstreamCredential a request names, which
// the leader's reconcilers take as they take their own gateway's report. It never refreshes.
//
// It is a report, not a person's refresh-requested-at: that one forces a refresh past backoff
// and past a rejected refresh token, so an upstream that rejects every token could have made
// the leader hammer the authorization server. A report of a revision refreshes it at most
// once, within the refresh floor and backoff. A look (revision zero) is what the leader's
// reconciler does by itself, so it is not forwarded. Reports coalesce per object: at most one
// patch per refreshPatchInterval, carrying the newest revision reported. RequestRefresh never
// blocks.
type leaderRefresher struct {
	elected <-chan struct{}
	local   upstream.Refresher
	client  client.Client
	log     logr.Logger
	every   time.Duration // refreshPatchInterval but in tests

	mu      sync.Mutex
	last    map[refreshTarget]time.Time // when each object was last patched
	pending map[refreshTarget]uint64    // the newest revision of a scheduled patch
}

// refreshTarget is the object a request is patched onto.
type refreshTarget struct {
	credential bool
	types.NamespacedName
}

func newLeaderRefresher(elected <-chan struct{}, local upstream.Refresher, c client.Client, log logr.Logger) *leaderRefresher {
	return &leaderRefresher{elected: elected, local: local, client: c, log: log, every: refreshPatchInterval,
		last: map[refreshTarget]time.Time{}, pending: map[refreshTarget]uint64{}}
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
	if rev, scheduled := r.pending[t]; scheduled {
		r.pending[t] = max(rev, req.RejectedRevision)
		return
	}
	r.pending[t] = req.RejectedRevision
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
	r.mu.Lock()
	rev := r.pending[t]
	r.mu.Unlock()
	err := r.patch(ctx, t, rev)
	r.mu.Lock()
	r.last[t] = time.Now()
	if r.pending[t] > rev { // a newer revision was reported during the patch
		go r.patchAfter(t, r.every)
	} else {
		delete(r.pending, t)
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Error(err, "Failed to ask the leader for a refresh", "credential", t.credential, "object", t.String(), "rejectedRevision", rev)
		return
	}
	r.log.Info("Asked the leader for a refresh", "credential", t.credential, "object", t.String(), "rejectedRevision", rev)
}

func (r *leaderRefresher) patch(ctx context.Context, t refreshTarget, rev uint64) error {
	var obj client.Object = &mcpv1alpha1.UpstreamServer{}
	if t.credential {
		obj = &mcpv1alpha1.UpstreamCredential{}
	}
	obj.SetNamespace(t.Namespace)
	obj.SetName(t.Name)
	body := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`,
		mcpv1alpha1.AnnotationRejectedRevision, strconv.FormatUint(rev, 10))
	if err := r.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(body))); err != nil {
		return fmt.Errorf("annotating %s: %w", t.NamespacedName, err)
	}
	return nil
}
