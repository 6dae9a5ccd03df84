package controllers

import (
	"time"
)

// Action is what a reconcile does about a server's token, decided by Plan.
type Action string

const (
	// ActionDiscover runs discovery: a server that needs no auth is connected, else a login is asked for.
	ActionDiscover Action = "Discover"
	// ActionAwaitLogin asks a person to log in and waits for a hand-over (no requeue).
	ActionAwaitLogin Action = "AwaitLogin"
	// ActionRefresh spends the refresh token now.
	ActionRefresh Action = "Refresh"
	// ActionConnect uses the current token: connect or keep the session.
	ActionConnect Action = "Connect"
	// ActionBackoff waits for the backoff window to end; the token is used while still valid.
	ActionBackoff Action = "Backoff"
)

// TokenFacts is what the reconciler knows of the stored token, without the secrets.
type TokenFacts struct {
	Present         bool
	HasRefreshToken bool
	// Expiry of the access token; zero when the authorization server did not say.
	Expiry time.Time
	// IssuedAt is when the current access token was obtained or last refreshed.
	IssuedAt time.Time
}

// PlanInput is everything Plan needs. It holds no I/O handles.
type PlanInput struct {
	Now   time.Time
	Token TokenFacts
	// RefreshBefore is spec.oauth.refreshBefore; nil means the default.
	RefreshBefore *time.Duration
	// FailedAttempts and NextRetry are the failure memory from status.
	FailedAttempts int32
	NextRetry      time.Time
	// RefreshBlocked is true when the authorization server rejected this token's refresh token
	// (permanent failure): only a login or an explicit refresh request lifts it.
	RefreshBlocked bool
	// ForceRefresh is a new mcpproxy.dev/refresh-requested-at request: refresh now, ignoring backoff.
	ForceRefresh bool
	// SessionUnauthorized is true when the MCP server answered 401 to the current token.
	SessionUnauthorized bool
	// JitterKey spreads refresh times of many servers; stable per server.
	JitterKey string
}

// PlanResult is the decision: an action and, when relevant, when to look again.
type PlanResult struct {
	Action Action
	// RefreshAt is the planned time of the next refresh (zero when none is planned).
	RefreshAt time.Time
	// ExpiresAt is set when the token will expire with no refresh planned: the reconcile must
	// look again then, to tell a person.
	ExpiresAt time.Time
	// Reason is a short CamelCase explanation, used for conditions when the action needs a person.
	Reason string
}

// Plan decides what a reconcile does about the token, given what was gathered and now.
// It is pure: no I/O and no clock but in.Now.
func Plan(in PlanInput) PlanResult {
	// A suspended server and an unreadable token store are handled before planning
	// (reconcileServer): neither has a token decision to make.
	if !in.Token.Present {
		return PlanResult{Action: ActionDiscover}
	}
	tok := in.Token
	expired := !tok.Expiry.IsZero() && !in.Now.Before(tok.Expiry)
	refreshAt := RefreshTime(tok.IssuedAt, tok.Expiry, in.RefreshBefore, in.JitterKey)

	if !tok.HasRefreshToken {
		if expired || in.SessionUnauthorized {
			return PlanResult{Action: ActionAwaitLogin, Reason: "TokenExpired"}
		}
		return PlanResult{Action: ActionConnect, ExpiresAt: tok.Expiry}
	}
	if in.ForceRefresh {
		return PlanResult{Action: ActionRefresh, RefreshAt: in.Now}
	}
	if in.RefreshBlocked {
		if expired || in.SessionUnauthorized {
			return PlanResult{Action: ActionAwaitLogin, Reason: "RefreshTokenRejected"}
		}
		return PlanResult{Action: ActionConnect, ExpiresAt: tok.Expiry}
	}
	due := in.SessionUnauthorized || (!refreshAt.IsZero() && !in.Now.Before(refreshAt))
	if !due {
		return PlanResult{Action: ActionConnect, RefreshAt: refreshAt}
	}
	if in.FailedAttempts > 0 && in.Now.Before(in.NextRetry) {
		return PlanResult{Action: ActionBackoff, RefreshAt: in.NextRetry}
	}
	return PlanResult{Action: ActionRefresh, RefreshAt: in.Now}
}

// DefaultRefreshBefore is how long before expiry a token is refreshed when the spec does not
// say: a quarter of its lifetime, at most five minutes.
func DefaultRefreshBefore(lifetime time.Duration) time.Duration {
	d := lifetime / 4
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	if d < 0 {
		d = 0
	}
	return d
}

// RefreshTime is when a token issued at issuedAt and expiring at expiry should be refreshed:
// expiry minus refreshBefore, a little earlier by a jitter (up to a tenth of refreshBefore)
// that is stable for a server, so thousands of servers do not refresh in the same second and a
// repeated reconcile plans the same time. Zero when the expiry is unknown.
func RefreshTime(issuedAt, expiry time.Time, refreshBefore *time.Duration, jitterKey string) time.Time {
	if expiry.IsZero() {
		return time.Time{}
	}
	before := DefaultRefreshBefore(expiry.Sub(issuedAt))
	if issuedAt.IsZero() {
		before = 5 * time.Minute
	}
	if refreshBefore != nil {
		before = *refreshBefore
	}
	jitter := time.Duration(float64(before/10) * unitFraction(jitterKey, 0))
	return expiry.Add(-before - jitter)
}
