package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// connectTimeout bounds initialize + tools/list inside a reconcile.
const connectTimeout = 30 * time.Second

// connect opens or keeps the server's MCP session with the current token, checks its health
// every healthCheckInterval, and records what the server reported.
func (r *UpstreamServerReconciler) connect(ctx context.Context, st *serverState, cfg *serverConfig) {
	us := st.us
	now := st.metaNow()
	key := sessionKey(us)
	token := ""
	if st.record != nil {
		token = st.record.AccessToken
	}
	interval := healthInterval(us)

	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s, dialed, err := r.Sessions.Ensure(cctx, key, cfg.target, token)
	if err == nil && !dialed && !s.CheckedAt().Add(interval).After(st.now) {
		if err = s.Ping(cctx); err != nil {
			// One redial: a dropped session is not a failed server.
			r.Sessions.Close(key)
			s, dialed, err = r.Sessions.Ensure(cctx, key, cfg.target, token)
		}
	}
	if err == nil {
		s.MarkChecked(st.now)
		info := s.Info()
		us.Status.Server = &mcpv1alpha1.ServerInfo{Name: info.Name, Version: info.Version,
			ProtocolVersion: info.ProtocolVersion, Tools: int32(info.Tools)}
		setConnected(us, now, metav1.ConditionTrue, mcpv1alpha1.ReasonConnected,
			fmt.Sprintf("Connected to %s %s (%d tools)", info.Name, info.Version, info.Tools))
		if dialed {
			st.log.Info("Connected", "server", info.Name, "protocolVersion", info.ProtocolVersion, "tools", info.Tools)
		}
		st.wake(st.now.Add(interval))
		return
	}

	if errors.Is(err, mcpconn.ErrUnauthorized) && st.record != nil {
		// Rejected before expiry (revoked early): refresh once, in this reconcile, then retry;
		// unless failed refreshes are backing off: a 401 must not bypass the backoff.
		backingOff := inBackoff(us, st.now)
		if st.record.RefreshToken != "" && !st.refreshed && !refreshBlocked(us) && !backingOff {
			st.log.Info("The MCP server rejected the access token; refreshing")
			if r.refresh(ctx, st, cfg) {
				r.connect(ctx, st, cfg)
			}
			return
		}
		msg := "The MCP server rejected the access token"
		setConnected(us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonConnectFailed, msg)
		if (st.refreshFailed || backingOff) && !refreshBlocked(us) {
			// Refreshes are failing transiently and backing off. A token rejected a little before
			// the expiry we computed (clock skew, whole-second exp) says nothing about the refresh
			// token: keep retrying it on the backoff schedule instead of asking for a login.
			setAuthenticated(us, now, false, mcpv1alpha1.ReasonRefreshFailing, msg+" and refreshing it is failing; retrying with backoff")
			return
		}
		if st.refreshed || st.record.RefreshToken == "" {
			setAuthenticated(us, now, false, mcpv1alpha1.ReasonTokenExpired, msg)
			r.requireLogin(st, cfg, mcpv1alpha1.ReasonRefreshTokenRejected, msg+" even after a refresh", nil)
		}
		return
	}
	msg := fmt.Sprintf("Could not open an MCP session: %s", oauth.Redact(err.Error()))
	st.log.Info("Connection failed", "reason", msg)
	setConnected(us, now, metav1.ConditionFalse, mcpv1alpha1.ReasonConnectFailed, msg)
	retry := discoveryRetry
	if interval < retry {
		retry = interval
	}
	st.wake(st.now.Add(retry))
}

func healthInterval(us *mcpv1alpha1.UpstreamServer) time.Duration {
	if h := us.Spec.HealthCheckInterval; h != nil && h.Duration > 0 {
		return h.Duration
	}
	return 5 * time.Minute
}

// inBackoff reports whether failed refreshes asked to wait past now.
func inBackoff(us *mcpv1alpha1.UpstreamServer, now time.Time) bool {
	rs := us.Status.Refresh
	return rs != nil && rs.FailedAttempts > 0 && rs.NextRefreshTime != nil && now.Before(rs.NextRefreshTime.Time)
}

func refreshBlocked(us *mcpv1alpha1.UpstreamServer) bool {
	return isTrue(us, mcpv1alpha1.ConditionAuthorizationRequired) &&
		conditionReason(us, mcpv1alpha1.ConditionAuthorizationRequired) == mcpv1alpha1.ReasonRefreshTokenRejected
}
