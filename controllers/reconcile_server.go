package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// configRetry is how soon a server whose configuration cannot be read is looked at again.
const configRetry = time.Minute

// reconcileServer runs the gather → decide → act steps for one live (not deleting) server.
// It writes only to st.us.Status and st; Reconcile records the result.
func (r *UpstreamServerReconciler) reconcileServer(ctx context.Context, st *serverState) {
	us := st.us
	now := st.metaNow()
	cfg, err := r.resolveConfig(ctx, us)
	if err != nil {
		setAuthenticated(us, now, false, mcpv1alpha1.ReasonConfigInvalid, err.Error())
		setConnected(us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonConfigInvalid, err.Error())
		st.wake(st.now.Add(configRetry))
		return
	}

	// Gather the token: a refreshed token that could not be saved last time comes first.
	if err := r.saveUnsaved(st); err != nil {
		r.storeFailed(st, err)
		return
	}
	rec, err := r.Store.Load(st.key)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
	case err != nil:
		r.storeFailed(st, err)
		return
	default:
		st.record = rec
	}

	if r.handleLogout(ctx, st) {
		return
	}
	r.ingestHandOvers(ctx, st)

	if us.Spec.Suspend {
		r.Sessions.Close(sessionKey(us))
		msg := "spec.suspend is true: the session is closed and refreshes are stopped; the token is kept"
		setConnected(us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonSuspended, msg)
		if st.record == nil {
			setAuthenticated(us, now, false, mcpv1alpha1.ReasonSuspended, msg)
		}
		return
	}
	if cfg.staticOnly {
		r.connectWithoutOAuth(ctx, st, cfg)
		return
	}

	forced := us.Annotations[mcpv1alpha1.AnnotationRefreshRequestedAt]
	forceRefresh := forced != "" && forced != us.Status.LastHandledRefreshRequest
	if forceRefresh {
		us.Status.LastHandledRefreshRequest = forced
		st.forced = true
	}
	r.act(ctx, st, cfg, Plan(r.planInput(st, forceRefresh)))
}

// planInput translates the gathered state into the pure decision's input.
func (r *UpstreamServerReconciler) planInput(st *serverState, forceRefresh bool) PlanInput {
	us := st.us
	in := PlanInput{Now: st.now, JitterKey: sessionKey(us), ForceRefresh: forceRefresh}
	if o := us.Spec.OAuth; o != nil && o.RefreshBefore != nil {
		d := o.RefreshBefore.Duration
		in.RefreshBefore = &d
	}
	if rs := us.Status.Refresh; rs != nil {
		in.FailedAttempts = rs.FailedAttempts
		if rs.NextRefreshTime != nil {
			in.NextRetry = rs.NextRefreshTime.Time
		}
	}
	in.RefreshBlocked = refreshBlocked(us)
	if rec := st.record; rec != nil {
		in.Token = TokenFacts{Present: true, HasRefreshToken: rec.RefreshToken != "", Expiry: rec.Expiry, IssuedAt: issuedAt(rec)}
	}
	if s := r.Sessions.Get(sessionKey(us)); s != nil && s.Unauthorized() {
		in.SessionUnauthorized = true
	}
	return in
}

// act carries out the plan.
func (r *UpstreamServerReconciler) act(ctx context.Context, st *serverState, cfg *serverConfig, p PlanResult) {
	now := st.metaNow()
	switch p.Action {
	case ActionDiscover:
		r.discover(ctx, st, cfg)
	case ActionAwaitLogin:
		r.Sessions.Close(sessionKey(st.us))
		msg := "The access token expired and there is no usable refresh token"
		if p.Reason == mcpv1alpha1.ReasonRefreshTokenRejected {
			msg = "The authorization server rejected the refresh token and the access token expired"
		}
		setAuthenticated(st.us, now, false, mcpv1alpha1.ReasonTokenExpired, msg)
		setConnected(st.us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonTokenExpired, msg+"; waiting for a login")
		r.requireLogin(st, cfg, p.Reason, msg, nil)
	case ActionRefresh:
		if r.refresh(ctx, st, cfg) {
			r.connect(ctx, st, cfg)
		}
	case ActionBackoff:
		r.describeFailing(st)
		st.wake(p.RefreshAt)
		if tokenUsable(st.record, st.now) {
			r.connect(ctx, st, cfg)
		}
	case ActionConnect:
		r.markAuthenticated(st)
		r.connect(ctx, st, cfg)
	}
	r.planNext(st)
}

// planNext records the next planned refresh in status and asks to be woken for it (or, with no
// refresh possible, for the expiry).
func (r *UpstreamServerReconciler) planNext(st *serverState) {
	rec := st.record
	if rec == nil || st.us.Spec.Suspend {
		if st.us.Status.Refresh != nil {
			st.us.Status.Refresh.NextRefreshTime = nil
		}
		return
	}
	next := Plan(r.planInput(st, false))
	if !next.ExpiresAt.IsZero() && next.ExpiresAt.After(st.now) {
		st.wake(next.ExpiresAt)
	}
	var at time.Time
	switch next.Action {
	case ActionConnect, ActionBackoff:
		at = next.RefreshAt
	case ActionRefresh:
		at = st.now // due again (e.g. a 401 just now); the work queue calls back at once
	}
	if at.IsZero() {
		if st.us.Status.Refresh != nil {
			st.us.Status.Refresh.NextRefreshTime = nil
		}
		return
	}
	if st.us.Status.Refresh == nil {
		st.us.Status.Refresh = &mcpv1alpha1.RefreshStatus{}
	}
	t := metav1.NewTime(at.Truncate(time.Second))
	st.us.Status.Refresh.NextRefreshTime = &t
	st.wake(at)
}

// storeFailed reports an unreadable token store for this server; nothing is deleted.
func (r *UpstreamServerReconciler) storeFailed(st *serverState, err error) {
	now := st.metaNow()
	msg := fmt.Sprintf("The token store could not be read for this server: %v. The stored token is kept; "+
		"check the controller's token store and encryption key", err)
	st.log.Error(err, "Failed to read the token store")
	setAuthenticated(st.us, now, false, mcpv1alpha1.ReasonTokenStoreError, msg)
	setConnected(st.us, now, metav1.ConditionUnknown, mcpv1alpha1.ReasonTokenStoreError, msg)
	st.wake(st.now.Add(configRetry))
}

// tokenUsable reports whether rec holds an access token that has not expired.
func tokenUsable(rec *tokenstore.Record, now time.Time) bool {
	return rec != nil && rec.AccessToken != "" && (rec.Expiry.IsZero() || now.Before(rec.Expiry))
}

func issuedAt(rec *tokenstore.Record) time.Time {
	if !rec.RefreshedAt.IsZero() {
		return rec.RefreshedAt
	}
	return rec.ObtainedAt
}
