package gateway

import (
	"context"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// look asks the reconciler owning h's token to look at it now (an expired token, credentials
// it does not hold).
func (u *upstreams) look(h holder) {
	if u.g.stopping.Err() != nil {
		return // a stopping gateway asks for nothing (Gateway.stopping)
	}
	u.g.opts.Refresher.RequestRefresh(h.refreshRequest(0))
}

// requestRefresh asks the reconciler, the only one that refreshes, to refresh revision rev of
// h's token, which the upstream rejected. A plain look would not do: the reconciler refreshes
// early only for a rejected revision. One request per rejected revision (again after three
// wait bounds); during a backoff only a look, so a 401 never bypasses it.
func (u *upstreams) requestRefresh(h holder, rev uint64) {
	if u.g.stopping.Err() != nil {
		return // a stopping gateway asks for nothing (Gateway.stopping)
	}
	if _, ok := h.backingOff(time.Now()); ok {
		u.look(h)
		return
	}
	mark := h.mark()
	u.mu.Lock()
	m, ok := u.requested[mark]
	if ok && m.rev == rev && time.Since(m.at) < 3*u.g.opts.RefreshWait {
		u.mu.Unlock()
		return
	}
	u.requested[mark] = refreshMark{rev: rev, at: time.Now()}
	u.mu.Unlock()
	u.g.opts.Refresher.RequestRefresh(h.refreshRequest(rev))
	refreshRequests.WithLabelValues(h.server().String()).Inc()
	u.g.log.Info("Asked the controller to refresh a token the upstream rejected", "server", h.server().String(),
		"credential", h.credentialName(), "revision", rev)
}

// awaitNewToken asks for a refresh of rejectedRev and waits until another revision with an
// access token is stored, or the wait bound passes (nil).
func (u *upstreams) awaitNewToken(ctx context.Context, h holder, rejectedRev uint64) *tokenstore.Record {
	if rec := u.newerRecord(h, rejectedRev); rec != nil {
		return rec // the reconciler already saved a newer token
	}
	u.requestRefresh(h, rejectedRev)
	return u.waitNewer(ctx, h, rejectedRev)
}

// waitNewer waits until a revision other than rev with an access token is stored, or the wait
// bound passes, or the gateway stops (nil). The store announces its commits, so this wakes on
// the commit. A stopping gateway waits for nothing (Gateway.stopping): the requests of the
// catalog's sessions have contexts of their own, and each wait held the manager's exit for
// up to RefreshWait.
func (u *upstreams) waitNewer(ctx context.Context, h holder, rev uint64) *tokenstore.Record {
	ctx, cancel := context.WithTimeout(ctx, u.g.opts.RefreshWait)
	defer cancel()
	defer context.AfterFunc(u.g.stopping, cancel)()
	k := h.key()
	for cur := rev; ; {
		rec, err := u.g.opts.Store.WaitNewer(ctx, k, cur)
		if err != nil {
			return nil
		}
		if rec.AccessToken != "" {
			return u.records.seen(k, rec)
		}
		cur = rec.Revision // a record without an access token: wait for the next one
	}
}

// newerRecord is h's stored record if it is another revision than rev (read afresh: rev was
// refused upstream), or nil.
func (u *upstreams) newerRecord(h holder, rev uint64) *tokenstore.Record {
	rec, err := u.records.fresh(h.key())
	if err == nil && rec != nil && rec.Revision != rev && rec.AccessToken != "" {
		return rec
	}
	return nil
}

// load reads h's stored token, through the short cache of records (records.go); nil without
// one (public and API-key servers, a credential nobody logged in to).
func (u *upstreams) load(h holder) (*tokenstore.Record, error) {
	return u.records.load(h.key())
}

// loadFresh is load bypassing the cache: for decisions about what an upstream refused, and
// about whose login a session carries.
func (u *upstreams) loadFresh(h holder) (*tokenstore.Record, error) {
	return u.records.fresh(h.key())
}
