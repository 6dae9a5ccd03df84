package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// fromAPIStatus is what the lifecycle remembers of an UpstreamServer's status.
func fromAPIStatus(s *mcpv1alpha1.UpstreamServerStatus) lifecycle.Status {
	out := fromTokenParts(s.Conditions, s.Token, s.Refresh, s.Authorization, s.LastCorrelationID)
	out.Connected = fromCondition(s.Conditions, mcpv1alpha1.ConditionConnected)
	if v := s.Server; v != nil {
		out.Server = &lifecycle.ServerInfo{Name: v.Name, Version: v.Version, ProtocolVersion: v.ProtocolVersion, Tools: v.Tools}
	}
	return out
}

// fromTokenParts is what the lifecycle remembers of the status a server and a credential
// share: the token's conditions and fields.
func fromTokenParts(cs []metav1.Condition, t *mcpv1alpha1.TokenStatus, r *mcpv1alpha1.RefreshStatus,
	a *mcpv1alpha1.AuthorizationStatus, correlationID string) lifecycle.Status {
	out := lifecycle.Status{
		Authenticated:         fromCondition(cs, mcpv1alpha1.ConditionAuthenticated),
		AuthorizationRequired: fromCondition(cs, mcpv1alpha1.ConditionAuthorizationRequired),
		LoginAccepted:         fromCondition(cs, mcpv1alpha1.ConditionLoginAccepted),
		LastCorrelationID:     correlationID,
	}
	if t != nil {
		out.Token = &lifecycle.TokenInfo{ExpiresAt: timeOf(t.ExpiresAt), LastRefreshTime: timeOf(t.LastRefreshTime),
			HasRefreshToken: t.HasRefreshToken, Scopes: t.Scopes, Issuer: t.Issuer, ObtainedBy: t.ObtainedBy}
	}
	if r != nil {
		out.Refresh = &lifecycle.RefreshMemory{FailedAttempts: r.FailedAttempts, LastFailureTime: timeOf(r.LastFailureTime),
			LastFailureReason: r.LastFailureReason, NextRefreshTime: timeOf(r.NextRefreshTime)}
	}
	if a != nil {
		out.Authorization = &lifecycle.Authorization{Since: timeOf(a.Since), LoginCommand: a.LoginCommand,
			AuthorizationServer: a.AuthorizationServer, Resource: a.Resource, Scopes: a.Scopes}
	}
	return out
}

// applyStatus writes the lifecycle's status into the server's, with the bookkeeping only the
// API has: observedGeneration, transition times, handled requests, and Ready.
func applyStatus(us *mcpv1alpha1.UpstreamServer, obs observed, s lifecycle.Status) {
	now := metav1.NewTime(obs.facts.Now)
	for typ, c := range map[string]*lifecycle.Condition{
		mcpv1alpha1.ConditionAuthenticated: s.Authenticated, mcpv1alpha1.ConditionConnected: s.Connected,
		mcpv1alpha1.ConditionAuthorizationRequired: s.AuthorizationRequired, mcpv1alpha1.ConditionLoginAccepted: s.LoginAccepted,
	} {
		if c != nil {
			setCondition(us, now, typ, metav1.ConditionStatus(c.Status), c.Reason, c.Message)
		}
	}
	st := &us.Status
	st.Token, st.Refresh, st.Authorization = toTokenStatus(s.Token), toRefreshStatus(s.Refresh), toAuthorizationStatus(s.Authorization)
	st.Server = nil
	if v := s.Server; v != nil {
		st.Server = &mcpv1alpha1.ServerInfo{Name: v.Name, Version: v.Version, ProtocolVersion: v.ProtocolVersion, Tools: v.Tools}
	}
	st.LastCorrelationID = s.LastCorrelationID
	if obs.refreshReq != "" {
		st.LastHandledRefreshRequest = obs.refreshReq
	}
	if obs.logoutReq != "" {
		st.LastHandledLogoutRequest = obs.logoutReq
	}
	setReady(us, now)
	st.ObservedGeneration = us.Generation
}

func toTokenStatus(t *lifecycle.TokenInfo) *mcpv1alpha1.TokenStatus {
	if t == nil {
		return nil
	}
	return &mcpv1alpha1.TokenStatus{ExpiresAt: metaTime(t.ExpiresAt), LastRefreshTime: metaTime(t.LastRefreshTime),
		HasRefreshToken: t.HasRefreshToken, Scopes: t.Scopes, Issuer: t.Issuer, ObtainedBy: t.ObtainedBy}
}

func toRefreshStatus(r *lifecycle.RefreshMemory) *mcpv1alpha1.RefreshStatus {
	if r == nil {
		return nil
	}
	return &mcpv1alpha1.RefreshStatus{FailedAttempts: r.FailedAttempts, LastFailureTime: metaTime(r.LastFailureTime),
		LastFailureReason: r.LastFailureReason, NextRefreshTime: metaTime(r.NextRefreshTime)}
}

func toAuthorizationStatus(a *lifecycle.Authorization) *mcpv1alpha1.AuthorizationStatus {
	if a == nil {
		return nil
	}
	return &mcpv1alpha1.AuthorizationStatus{Since: metaTime(a.Since), LoginCommand: a.LoginCommand,
		AuthorizationServer: a.AuthorizationServer, Resource: a.Resource, Scopes: a.Scopes}
}

func fromCondition(cs []metav1.Condition, typ string) *lifecycle.Condition {
	c := meta.FindStatusCondition(cs, typ)
	if c == nil {
		return nil
	}
	return &lifecycle.Condition{Status: lifecycle.ConditionStatus(c.Status), Reason: c.Reason, Message: c.Message}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// metaTime is t as an API time, nil for zero.
func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	m := metav1.NewTime(t)
	return &m
}
