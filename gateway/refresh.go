package gateway

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// look asks the reconciler to look at nn now (an expired token, credentials it does not hold).
func (u *upstreams) look(nn types.NamespacedName) {
	u.g.opts.Refresher.RequestRefresh(upstream.RefreshRequest{Server: nn})
}

// requestRefresh asks the reconciler, the only one that refreshes, to refresh revision rev,
// which the upstream rejected. A plain look would not do: the reconciler refreshes early only
// for a rejected revision. One request per rejected revision (again after three wait bounds);
// during a backoff only a look, so a 401 never bypasses it.
func (u *upstreams) requestRefresh(us *mcpv1alpha1.UpstreamServer, rev uint64) {
	nn := upstream.Name(us)
	if _, ok := upstream.BackingOff(us, time.Now()); ok {
		u.look(nn)
		return
	}
	u.mu.Lock()
	m, ok := u.requested[nn]
	if ok && m.rev == rev && time.Since(m.at) < 3*u.g.opts.RefreshWait {
		u.mu.Unlock()
		return
	}
	u.requested[nn] = refreshMark{rev: rev, at: time.Now()}
	u.mu.Unlock()
	u.g.opts.Refresher.RequestRefresh(upstream.RefreshRequest{Server: nn, RejectedRevision: rev})
	refreshRequests.WithLabelValues(nn.String()).Inc()
	u.g.log.Info("Asked the controller to refresh a token the upstream rejected", "server", nn.String(), "revision", rev)
}

// awaitNewToken asks for a refresh of rejectedRev and waits until another revision with an
// access token is stored, or the wait bound passes (nil).
func (u *upstreams) awaitNewToken(ctx context.Context, us *mcpv1alpha1.UpstreamServer, rejectedRev uint64) *tokenstore.Record {
	if rec := u.newerRecord(us, rejectedRev); rec != nil {
		return rec // the reconciler already saved a newer token
	}
	u.requestRefresh(us, rejectedRev)
	return u.waitNewer(ctx, us, rejectedRev)
}

// waitNewer waits until a revision other than rev with an access token is stored, or the wait
// bound passes (nil). The store announces its commits, so this wakes on the commit.
func (u *upstreams) waitNewer(ctx context.Context, us *mcpv1alpha1.UpstreamServer, rev uint64) *tokenstore.Record {
	ctx, cancel := context.WithTimeout(ctx, u.g.opts.RefreshWait)
	defer cancel()
	k := upstream.StoreKey(us)
	for cur := rev; ; {
		rec, err := u.g.opts.Store.WaitNewer(ctx, k, cur)
		if err != nil {
			return nil
		}
		if rec.AccessToken != "" {
			return rec
		}
		cur = rec.Revision // a record without an access token: wait for the next one
	}
}

func (u *upstreams) newerRecord(us *mcpv1alpha1.UpstreamServer, rev uint64) *tokenstore.Record {
	rec, err := u.load(us)
	if err == nil && rec != nil && rec.Revision != rev && rec.AccessToken != "" {
		return rec
	}
	return nil
}

// load reads the server's stored token; nil without one (public and API-key servers).
func (u *upstreams) load(us *mcpv1alpha1.UpstreamServer) (*tokenstore.Record, error) {
	rec, err := u.g.opts.Store.Load(upstream.StoreKey(us))
	if errors.Is(err, tokenstore.ErrNotFound) {
		return nil, nil
	}
	return rec, err
}
