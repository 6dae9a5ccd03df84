package lifecycle

import (
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// refreshMemory replays the outcomes over the remembered failure memory (without the planned
// next refresh, which NextRefresh adds). Nil when there is none.
func refreshMemory(f *Facts, o Outcomes) *RefreshMemory {
	var m *RefreshMemory
	if f.Prev.Refresh != nil {
		c := *f.Prev.Refresh
		m = &c
	}
	get := func() *RefreshMemory {
		if m == nil {
			m = &RefreshMemory{}
		}
		return m
	}
	for _, x := range o {
		switch {
		case x.Step.Kind == StepLogout && x.Err == nil, x.Step.Kind == StepConnect && x.Step.NoToken:
			m = nil
		case x.Step.Kind == StepIngestHandOver && x.Err == nil && m != nil:
			m.FailedAttempts = 0
		case x.Step.Kind != StepRefresh || x.StoreErr != nil || x.Conflict:
		case x.Err == nil:
			get().FailedAttempts = 0
		case x.Permanent:
			r := get()
			r.LastFailureTime, r.LastFailureReason = f.Now, failureReason(x.Err)
			r.FailedAttempts, r.NextRefreshTime = 0, time.Time{}
		default:
			r := get()
			r.LastFailureTime, r.LastFailureReason = f.Now, failureReason(x.Err)
			r.FailedAttempts++
			r.NextRefreshTime = f.Now.Add(backoff(r.FailedAttempts, x.RetryAfter, f.Config.JitterKey))
		}
	}
	return m
}

// next is the plan for after the pass: when to refresh, and when the token expires with no
// refresh possible (the lifecycle looks again then, to tell a person).
func next(f *Facts, o Outcomes, m *RefreshMemory) (refreshAt, expiresAt time.Time) {
	rec := current(f, o)
	if rec == nil || f.Suspended || f.ConfigErr != nil || f.StoreErr != nil || f.Config.StaticOnly {
		return time.Time{}, time.Time{}
	}
	blocked := authorizationRequired(f, o).refreshBlocked()
	// A gateway's report of the revision still stored stands until a refresh replaces it.
	rejected := rejectedAfter(o) || (f.RejectedRevision != 0 && f.RejectedRevision == rec.Revision)
	d := decide(f, rec, m, blocked, false, rejected)
	switch d.action {
	case actionConnect, actionBackoff:
		return d.refreshAt, d.expiresAt
	case actionThrottled:
		// Due, but too soon after the last refresh: at the floor, not at the next health
		// check, or a token rejected just after a refresh waited for that check.
		return d.refreshAt, d.expiresAt
	case actionRefresh:
		return f.Now, d.expiresAt // due again (a 401 just now): the work queue calls back at once
	}
	return time.Time{}, d.expiresAt
}

// rejectedAfter: the pass ended with the server refusing the token and no refresh after it.
func rejectedAfter(o Outcomes) bool {
	for i := len(o) - 1; i >= 0; i-- {
		switch x := o[i]; {
		case x.Step.Kind == StepRefresh && x.Err == nil && x.StoreErr == nil:
			return false
		case x.Step.Kind == StepConnect:
			return x.Unauthorized && !x.Step.NoToken
		}
	}
	return false
}

// tokenInfo is what status shows of a token.
func tokenInfo(rec *tokenstore.Record) *TokenInfo {
	t := &TokenInfo{HasRefreshToken: rec.RefreshToken != "", Scopes: rec.Scopes, Issuer: rec.Issuer, ObtainedBy: rec.ObtainedBy,
		ExpiresAt: rec.Expiry.Truncate(time.Second)}
	if !rec.RefreshedAt.IsZero() {
		t.LastRefreshTime = rec.RefreshedAt.Truncate(time.Second)
	}
	return t
}
