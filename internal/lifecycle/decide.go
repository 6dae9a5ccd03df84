package lifecycle

import (
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// action is what the stored token calls for, before any step of the pass has run.
type action string

const (
	actionAwaitLogin action = "AwaitLogin" // expired, no way to refresh: ask a person
	actionRefresh    action = "Refresh"    // spend the refresh token now
	actionConnect    action = "Connect"    // use the token; refresh at refreshAt
	actionBackoff    action = "Backoff"    // due, but failed refreshes wait until refreshAt
	actionThrottled  action = "Throttled"  // due again too soon after the last refresh
)

// DefaultMinRefreshInterval is the floor between two refreshes of one token when the config
// does not set one: a token that lives 1s, or a refreshBefore at least as long as the
// lifetime, would otherwise be refreshed on every pass.
const DefaultMinRefreshInterval = time.Second

// decision is the token decision and its times.
type decision struct {
	action action
	// refreshAt is the planned time of the next refresh (zero when none is planned).
	refreshAt time.Time
	// expiresAt is set when the token will expire with no refresh planned: the pass after
	// must look again then, to tell a person.
	expiresAt time.Time
	// reason explains an actionAwaitLogin.
	reason string
}

// decide is the rule for a stored token: when to refresh, when to back off, when only a person
// can help. force is a new refresh request from a person (it ignores backoff and a rejected
// refresh token); rejected is a 401 to the current token (it respects both).
// mem and blocked are the failure memory and "refresh token rejected" as known at this point.
func decide(f *Facts, tok *tokenstore.Record, mem *RefreshMemory, blocked, force, rejected bool) decision {
	expired := !tok.Expiry.IsZero() && !f.Now.Before(tok.Expiry)
	refreshAt := RefreshTime(issuedAt(tok), tok.Expiry, f.Config.RefreshBefore, f.Config.JitterKey)

	if tok.RefreshToken == "" {
		if expired || rejected {
			return decision{action: actionAwaitLogin, reason: ReasonTokenExpired}
		}
		return decision{action: actionConnect, expiresAt: tok.Expiry}
	}
	if force {
		return decision{action: actionRefresh, refreshAt: f.Now}
	}
	if blocked {
		if expired || rejected {
			return decision{action: actionAwaitLogin, reason: ReasonRefreshTokenRejected}
		}
		return decision{action: actionConnect, expiresAt: tok.Expiry}
	}
	due := rejected || (!refreshAt.IsZero() && !f.Now.Before(refreshAt))
	if !due {
		return decision{action: actionConnect, refreshAt: refreshAt}
	}
	if floor := issuedAt(tok).Add(minRefreshInterval(f)); !issuedAt(tok).IsZero() && f.Now.Before(floor) {
		return decision{action: actionThrottled, refreshAt: floor}
	}
	if mem != nil && mem.FailedAttempts > 0 && f.Now.Before(mem.NextRefreshTime) {
		return decision{action: actionBackoff, refreshAt: mem.NextRefreshTime}
	}
	return decision{action: actionRefresh, refreshAt: f.Now}
}

func minRefreshInterval(f *Facts) time.Duration {
	if f.Config.MinRefreshInterval > 0 {
		return f.Config.MinRefreshInterval
	}
	return DefaultMinRefreshInterval
}

// issuedAt is when the current access token was obtained or last refreshed.
func issuedAt(rec *tokenstore.Record) time.Time {
	if !rec.RefreshedAt.IsZero() {
		return rec.RefreshedAt
	}
	return rec.ObtainedAt
}

// rejectedNow reports whether the current token was rejected: by the live session, or by the
// gateway for exactly this revision (a report about an older revision is stale).
func rejectedNow(f *Facts, rec *tokenstore.Record) bool {
	return f.Session.Unauthorized || (f.RejectedRevision != 0 && f.RejectedRevision == rec.Revision)
}
