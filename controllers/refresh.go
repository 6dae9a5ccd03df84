package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// failuresBeforeAskingForLogin is how many consecutive failed refreshes with an expired token
// make the controller also ask a person to log in (it keeps retrying regardless).
const failuresBeforeAskingForLogin = 3

// refreshTimeout bounds one token request. It is shorter than the manager's graceful shutdown
// (30s), so a refresh that is in flight at shutdown finishes and is saved before the process exits.
const refreshTimeout = 20 * time.Second

// refresh spends the refresh token once, saves the result (compare-and-swap) before anything
// uses it, and records the outcome. It reports whether a usable token is held afterwards.
func (r *UpstreamServerReconciler) refresh(ctx context.Context, st *serverState, cfg *serverConfig) bool {
	if st.refreshed {
		return tokenUsable(st.record, st.now)
	}
	st.refreshed = true
	rec := st.record
	id := oauth.NewCorrelationID()
	ctx = oauth.WithCorrelationID(ctx, id)
	oauthLog := st.log // internal/oauth adds the correlation ID from ctx itself
	// Every later line of this reconcile belongs to this refresh.
	st.log = st.log.WithValues("correlationID", id)
	log := st.log
	st.us.Status.LastCorrelationID = id

	started := r.Clock.Now()
	// Once sent, a refresh must be seen through: the authorization server rotates the refresh
	// token whether or not we read its answer, so abandoning the request when the manager shuts
	// down would lose the only working refresh token. Shutdown waits for the reconcile instead.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	tok, err := r.OAuth.Refresh(rctx, oauth.RefreshRequest{
		TokenEndpoint: rec.TokenEndpoint,
		Resource:      rec.Resource,
		Client: oauth.ClientRegistration{ClientID: rec.Client.ClientID, ClientSecret: clientSecret(rec, cfg),
			AuthMethod: rec.Client.AuthMethod, RedirectURI: rec.Client.RedirectURI, Issuer: rec.Issuer},
		RefreshToken: rec.RefreshToken,
		Now:          r.Clock.Now,
		Logger:       oauthLog,
	})
	refreshDuration.Observe(r.Clock.Since(started).Seconds())
	if err != nil {
		refreshes.WithLabelValues(refreshResult(err)).Inc()
		st.refreshFailed = true
		r.refreshFailed(st, cfg, err)
		return tokenUsable(st.record, st.now)
	}

	next := *rec
	next.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		next.RefreshToken = tok.RefreshToken
	}
	if tok.TokenType != "" {
		next.TokenType = tok.TokenType
	}
	next.Expiry = tok.Expiry
	if len(tok.Scopes) > 0 {
		next.Scopes = tok.Scopes
	}
	next.RefreshedAt = st.now
	next.RefreshCount++
	next.CorrelationID = id
	if !r.persist(st, &next, rec.Revision) {
		refreshes.WithLabelValues("save_failed").Inc()
		return tokenUsable(st.record, st.now)
	}
	refreshes.WithLabelValues("success").Inc()
	log.Info("Refreshed token", "expiresIn", durationUntil(next.Expiry, st.now), "refreshCount", next.RefreshCount)

	rs := refreshStatus(st.us)
	if rs.FailedAttempts > 0 || isTrue(st.us, mcpv1alpha1.ConditionAuthorizationRequired) {
		st.event(false, "TokenRefreshed", "Refresh", "Token refreshed after %d failed attempts", rs.FailedAttempts)
	} else if st.forced {
		st.event(false, "TokenRefreshed", "Refresh", "Token refreshed on request")
	}
	rs.FailedAttempts = 0
	r.markAuthenticated(st)
	if s := r.Sessions.Get(sessionKey(st.us)); s != nil {
		s.SetToken(next.AccessToken)
	}
	return true
}

// persist saves rec over expectRevision. A conflict means someone saved a newer token (a login
// landed): that one wins and is reloaded. Any other failure keeps rec in memory so the next
// reconcile saves it before anything else: a rotated refresh token is never dropped.
func (r *UpstreamServerReconciler) persist(st *serverState, rec *tokenstore.Record, expectRevision uint64) bool {
	rev, err := r.Store.Save(st.key, rec, expectRevision)
	switch {
	case err == nil:
		rec.Revision = rev
		st.record = rec
		return true
	case errors.Is(err, tokenstore.ErrConflict):
		st.log.Info("Discarded a refreshed token: a newer token was saved meanwhile")
		if newer, lerr := r.Store.Load(st.key); lerr == nil {
			st.record = newer
		}
		return false
	default:
		r.keepUnsaved(st.key, rec, expectRevision)
		r.storeFailed(st, err)
		return false
	}
}

// refreshFailed records a failed refresh: permanent failures ask for a person at once (and, with
// --browser-login, open the browser: cfg is passed on), transient ones back off (Retry-After
// honoured) and keep the server Ready while the token lasts.
func (r *UpstreamServerReconciler) refreshFailed(st *serverState, cfg *serverConfig, err error) {
	now := st.metaNow()
	rs := refreshStatus(st.us)
	rs.LastFailureTime = &now
	rs.LastFailureReason = oauth.Redact(err.Error())
	if len(rs.LastFailureReason) > 512 {
		rs.LastFailureReason = rs.LastFailureReason[:512]
	}
	if oauth.IsPermanent(err) {
		st.log.Info("Refresh token rejected", "reason", rs.LastFailureReason)
		st.event(true, "TokenRefreshFailed", "Refresh", "The authorization server rejected the refresh token: %s", rs.LastFailureReason)
		rs.FailedAttempts = 0
		rs.NextRefreshTime = nil
		msg := "The authorization server rejected the refresh token (" + rs.LastFailureReason + ")"
		if tokenUsable(st.record, st.now) {
			setAuthenticated(st.us, now, true, mcpv1alpha1.ReasonTokenValid, msg+"; the access token works until it expires")
		} else {
			setAuthenticated(st.us, now, false, mcpv1alpha1.ReasonRefreshTokenRejected, msg)
		}
		r.requireLogin(st, cfg, mcpv1alpha1.ReasonRefreshTokenRejected, msg, nil)
		return
	}
	rs.FailedAttempts++
	wait := Backoff(rs.FailedAttempts, oauth.RetryAfterOf(err), sessionKey(st.us))
	next := metav1.NewTime(st.now.Add(wait).Truncate(time.Second))
	rs.NextRefreshTime = &next
	st.wake(st.now.Add(wait))
	st.log.Info("Refresh failed; backing off", "attempt", rs.FailedAttempts, "retryIn", wait, "reason", rs.LastFailureReason)
	st.event(true, "TokenRefreshFailed", "Refresh", "Refresh attempt %d failed, retrying in %s: %s",
		rs.FailedAttempts, wait.Round(time.Second), rs.LastFailureReason)
	r.describeFailing(st)
}

// describeFailing sets the conditions of a server whose refreshes are failing transiently.
func (r *UpstreamServerReconciler) describeFailing(st *serverState) {
	now := st.metaNow()
	rs := refreshStatus(st.us)
	if tokenUsable(st.record, st.now) {
		r.markAuthenticated(st)
		return
	}
	msg := fmt.Sprintf("The access token expired and %d refresh attempts failed (last: %s); retrying with backoff",
		rs.FailedAttempts, rs.LastFailureReason)
	setAuthenticated(st.us, now, false, mcpv1alpha1.ReasonRefreshFailing, msg)
	setConnected(st.us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonRefreshFailing, msg)
	r.Sessions.Close(sessionKey(st.us))
	if rs.FailedAttempts >= failuresBeforeAskingForLogin {
		r.requireLogin(st, nil, mcpv1alpha1.ReasonRefreshFailing, msg+"; a login also fixes it", nil)
	}
}

// markAuthenticated records a valid token: Authenticated=True, status.token filled in, and a
// pending request for a person withdrawn unless the refresh token was rejected.
func (r *UpstreamServerReconciler) markAuthenticated(st *serverState) {
	now := st.metaNow()
	rec := st.record
	if rec == nil {
		return
	}
	setAuthenticated(st.us, now, true, mcpv1alpha1.ReasonTokenValid, "The controller holds a valid access token")
	reason := conditionReason(st.us, mcpv1alpha1.ConditionAuthorizationRequired)
	if !isTrue(st.us, mcpv1alpha1.ConditionAuthorizationRequired) || reason != mcpv1alpha1.ReasonRefreshTokenRejected {
		setAuthorizationRequired(st.us, now, false, mcpv1alpha1.ReasonTokenValid, "The controller holds a valid token")
	}
	st.us.Status.Token = tokenStatus(rec)
}

func tokenStatus(rec *tokenstore.Record) *mcpv1alpha1.TokenStatus {
	ts := &mcpv1alpha1.TokenStatus{HasRefreshToken: rec.RefreshToken != "", Scopes: rec.Scopes, Issuer: rec.Issuer}
	if !rec.Expiry.IsZero() {
		t := metav1.NewTime(rec.Expiry.Truncate(time.Second))
		ts.ExpiresAt = &t
	}
	if !rec.RefreshedAt.IsZero() {
		t := metav1.NewTime(rec.RefreshedAt.Truncate(time.Second))
		ts.LastRefreshTime = &t
	}
	return ts
}

func refreshStatus(us *mcpv1alpha1.UpstreamServer) *mcpv1alpha1.RefreshStatus {
	if us.Status.Refresh == nil {
		us.Status.Refresh = &mcpv1alpha1.RefreshStatus{}
	}
	return us.Status.Refresh
}

// clientSecret prefers the spec's current secret (it may have been rotated) for a pre-registered
// client, else the one stored with the registration.
func clientSecret(rec *tokenstore.Record, cfg *serverConfig) string {
	if cfg != nil && cfg.oauth.ClientSecret != "" && cfg.oauth.ClientID == rec.Client.ClientID {
		return cfg.oauth.ClientSecret
	}
	return rec.Client.ClientSecret
}

func refreshResult(err error) string {
	switch {
	case oauth.IsPermanent(err):
		return "rejected"
	case oauth.IsTransient(err):
		return "transient_error"
	default:
		return "error"
	}
}

func durationUntil(t, now time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(now).Round(time.Second)
}
