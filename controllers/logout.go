package controllers

import (
	"context"

	"fmt"
	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// revokeTimeout bounds the revocation call made on logout and deletion.
const revokeTimeout = 10 * time.Second

// handleLogout acts on a new mcpproxy.dev/logout-requested-at: revoke at the authorization
// server when it can, forget the token, close the session. It reports whether it acted.
func (r *UpstreamServerReconciler) handleLogout(ctx context.Context, st *serverState) bool {
	us := st.us
	req := us.Annotations[mcpv1alpha1.AnnotationLogoutRequestedAt]
	if req == "" || req == us.Status.LastHandledLogoutRequest {
		return false
	}
	us.Status.LastHandledLogoutRequest = req
	r.Sessions.Close(sessionKey(us))
	if st.record != nil {
		r.revoke(ctx, st.log, st.record)
	}
	if _, err := r.Store.DeleteServer(us.Namespace, us.Name); err != nil {
		r.storeFailed(st, fmt.Errorf("deleting the token on logout: %w", err))
		return true
	}
	r.forgetUnsaved(st.key)
	st.record = nil
	now := st.metaNow()
	msg := "Logged out: the token was revoked and deleted"
	setAuthenticated(us, now, false, mcpv1alpha1.ReasonLoggedOut, msg)
	setConnected(us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonLoggedOut, msg)
	us.Status.Token, us.Status.Refresh, us.Status.Server = nil, nil, nil
	r.requireLogin(st, nil, mcpv1alpha1.ReasonLoggedOut, msg, nil)
	st.log.Info("Logged out")
	st.event(false, "LoggedOut", "Logout", "%s", msg)
	return true
}

// revoke asks the authorization server to revoke the refresh token (which also ends the access
// tokens of the grant on most servers), else the access token. Failures are logged, not fatal:
// the local copy is deleted either way.
func (r *UpstreamServerReconciler) revoke(ctx context.Context, log logr.Logger, rec *tokenstore.Record) {
	if rec.RevocationEndpoint == "" {
		return
	}
	token, hint := rec.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = rec.AccessToken, "access_token"
	}
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	client := oauth.ClientRegistration{ClientID: rec.Client.ClientID, ClientSecret: rec.Client.ClientSecret,
		AuthMethod: rec.Client.AuthMethod, Issuer: rec.Issuer}
	if err := r.OAuth.Revoke(ctx, rec.RevocationEndpoint, client, token, hint); err != nil {
		log.Info("Revocation failed; deleting the local token anyway", "reason", oauth.Redact(err.Error()))
	}
}

// finalize cleans up a deleted server: close the session, revoke, delete every stored token of
// the server, then let it go.
func (r *UpstreamServerReconciler) finalize(ctx context.Context, us *mcpv1alpha1.UpstreamServer) error {
	if !controllerutil.ContainsFinalizer(us, mcpv1alpha1.Finalizer) {
		return nil
	}
	log := logFor(ctx, us)
	r.Sessions.Close(sessionKey(us))
	key := StoreKey(us)
	if rec, err := r.Store.Load(key); err == nil {
		r.revoke(ctx, log, rec)
	}
	if _, err := r.Store.DeleteServer(us.Namespace, us.Name); err != nil {
		return fmt.Errorf("deleting the stored tokens of %s/%s: %w", us.Namespace, us.Name, err)
	}
	r.forgetUnsaved(key)
	forgetMetrics(us)
	patch := client.MergeFrom(us.DeepCopy())
	controllerutil.RemoveFinalizer(us, mcpv1alpha1.Finalizer)
	if err := r.Patch(ctx, us, patch); err != nil {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	log.Info("Cleaned up a deleted server")
	return nil
}

func logFor(ctx context.Context, us *mcpv1alpha1.UpstreamServer) logr.Logger {
	return ctrl.LoggerFrom(ctx).WithValues("upstreamServer", klog.KObj(us))
}
