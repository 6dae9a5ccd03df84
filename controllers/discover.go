package controllers

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// discoveryRetry is how soon discovery is tried again after the server could not be reached.
const discoveryRetry = 30 * time.Second

// browserLoginRetry is how often a server waiting for a login offers the browser login again
// (manager --browser-login): the browser's per-server rate window.
const browserLoginRetry = 5 * time.Minute

// discover handles a server without a stored token: one that answers without a token is
// connected as is; one that asks for OAuth gets AuthorizationRequired with the login command.
// A pending request for a person is not rediscovered on every reconcile: a hand-over wakes it.
func (r *UpstreamServerReconciler) discover(ctx context.Context, st *serverState, cfg *serverConfig) {
	us := st.us
	now := st.metaNow()
	if awaitingLogin(us) {
		if r.BrowserLogin != nil {
			// A browser flow that was abandoned is offered again; the starter rate-limits the
			// browser per server, so this opens at most one window per window period.
			r.BrowserLogin.RequestLogin(us.DeepCopy(), cfg.oauth)
			st.wake(st.now.Add(browserLoginRetry))
		}
		return
	}
	if noAuthServer(us) {
		if s := r.Sessions.Get(sessionKey(us)); s != nil && s.Healthy() {
			r.connectWithoutOAuth(ctx, st, cfg)
			return
		}
	}
	id := oauth.NewCorrelationID()
	ctx = oauth.WithCorrelationID(ctx, id)
	oc := cfg.oauth
	oc.Logger = st.log // internal/oauth adds the correlation ID from ctx
	d, err := r.OAuth.Discover(ctx, oc)
	if err != nil {
		msg := fmt.Sprintf("Could not discover how the server is protected: %s", oauth.Redact(err.Error()))
		st.log.Info("Discovery failed", "correlationID", id, "reason", msg)
		setAuthenticated(us, now, false, mcpv1alpha1.ReasonDiscoveryFailed, msg)
		setConnected(us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonDiscoveryFailed, msg)
		st.wake(st.now.Add(discoveryRetry))
		return
	}
	if d.NoAuthRequired {
		r.connectWithoutOAuth(ctx, st, cfg)
		return
	}
	r.Sessions.Close(sessionKey(us))
	msg := "No token is stored for this server"
	setAuthenticated(us, now, false, mcpv1alpha1.ReasonNoToken, msg)
	setConnected(us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonNoToken, "Waiting for a login")
	r.requireLogin(st, cfg, mcpv1alpha1.ReasonNoToken, msg, d)
}

// connectWithoutOAuth connects a server that needs no token (or only static headers).
func (r *UpstreamServerReconciler) connectWithoutOAuth(ctx context.Context, st *serverState, cfg *serverConfig) {
	now := st.metaNow()
	setAuthenticated(st.us, now, true, mcpv1alpha1.ReasonNoAuthRequired, "The server needs no OAuth token")
	setAuthorizationRequired(st.us, now, false, mcpv1alpha1.ReasonAuthorizationNotNeeded, "The server needs no OAuth token")
	st.us.Status.Token = nil
	st.us.Status.Refresh = nil
	r.connect(ctx, st, cfg)
}

// requireLogin sets AuthorizationRequired=True and fills status.authorization with what a
// person needs: the exact command and what the login will ask for.
func (r *UpstreamServerReconciler) requireLogin(st *serverState, cfg *serverConfig, reason, msg string, d *oauth.Discovery) {
	us := st.us
	now := st.metaNow()
	cmd := LoginCommand(us)
	setAuthorizationRequired(us, now, true, reason, msg+". Run: "+cmd)
	a := us.Status.Authorization
	if a == nil {
		a = &mcpv1alpha1.AuthorizationStatus{Since: &now}
		us.Status.Authorization = a
	}
	a.LoginCommand = cmd
	switch {
	case d != nil:
		a.AuthorizationServer, a.Resource, a.Scopes = d.Issuer, d.Resource, d.Scopes
	case st.record != nil:
		a.AuthorizationServer, a.Resource, a.Scopes = st.record.Issuer, st.record.Resource, st.record.Scopes
	case cfg != nil:
		a.AuthorizationServer, a.Resource, a.Scopes = cfg.oauth.AuthorizationServer, cfg.oauth.Resource, cfg.oauth.Scopes
	}
	if r.BrowserLogin != nil && cfg != nil {
		r.BrowserLogin.RequestLogin(us.DeepCopy(), cfg.oauth)
	}
}

// LoginCommand is the command that satisfies a server's AuthorizationRequired.
func LoginCommand(us *mcpv1alpha1.UpstreamServer) string {
	return fmt.Sprintf("mcpproxy auth login %s -n %s", us.Name, us.Namespace)
}

// awaitingLogin is true when this generation already asks a person to log in and nothing but a
// hand-over (or a spec change) can move it.
func awaitingLogin(us *mcpv1alpha1.UpstreamServer) bool {
	if !isTrue(us, mcpv1alpha1.ConditionAuthorizationRequired) || us.Status.Authorization == nil ||
		us.Status.ObservedGeneration != us.Generation {
		return false
	}
	switch conditionReason(us, mcpv1alpha1.ConditionAuthorizationRequired) {
	case mcpv1alpha1.ReasonNoToken, mcpv1alpha1.ReasonLoggedOut, mcpv1alpha1.ReasonHandOverRejected:
		return true
	}
	return false
}

// noAuthServer is true when the last discovery of this generation found no auth was needed.
func noAuthServer(us *mcpv1alpha1.UpstreamServer) bool {
	return us.Status.ObservedGeneration == us.Generation &&
		conditionReason(us, mcpv1alpha1.ConditionAuthenticated) == mcpv1alpha1.ReasonNoAuthRequired
}
