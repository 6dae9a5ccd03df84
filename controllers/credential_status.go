package controllers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// A credential's conditions are a server's token conditions (Authenticated,
// AuthorizationRequired, LoginAccepted) and Ready. It has no Connected: it keeps no session.
// The lifecycle's Connected is, for a credential, the outcome of the one MCP request that
// proves a new token, and it goes into Ready: True (Verified) once the MCP server accepted the
// token, False with the reason when it did not, kept as it was when nothing was sent.

// fromCredentialStatus is what the lifecycle remembers of a credential's status.
func fromCredentialStatus(s *mcpv1alpha1.UpstreamCredentialStatus) lifecycle.Status {
	return fromTokenParts(s.Conditions, s.Token, s.Refresh, s.Authorization, s.LastCorrelationID)
}

// applyCredentialStatus writes the lifecycle's status into the credential's, with
// observedGeneration, transition times, handled requests and Ready.
func applyCredentialStatus(c *mcpv1alpha1.UpstreamCredential, obs credentialObserved, s lifecycle.Status) {
	now := metav1.NewTime(obs.facts.Now)
	st := &c.Status
	for typ, cond := range map[string]*lifecycle.Condition{
		mcpv1alpha1.ConditionAuthenticated:         s.Authenticated,
		mcpv1alpha1.ConditionAuthorizationRequired: s.AuthorizationRequired,
		mcpv1alpha1.ConditionLoginAccepted:         s.LoginAccepted,
	} {
		if cond != nil {
			setConditionOn(&st.Conditions, c.Generation, now, typ, metav1.ConditionStatus(cond.Status), cond.Reason, cond.Message)
		}
	}
	st.Token, st.Refresh, st.Authorization = toTokenStatus(s.Token), toRefreshStatus(s.Refresh), toAuthorizationStatus(s.Authorization)
	// The first login's person owns the credential for good: a logout or a server edit that
	// clears the token's status must not reopen it to someone else.
	if st.Owner == "" && st.Token != nil {
		st.Owner = st.Token.ObtainedBy
	}
	st.LastCorrelationID = s.LastCorrelationID
	if obs.refreshReq != "" {
		st.LastHandledRefreshRequest = obs.refreshReq
	}
	if obs.logoutReq != "" {
		st.LastHandledLogoutRequest = obs.logoutReq
	}
	reason, status, msg := credentialReady(c, obs, s)
	setConditionOn(&st.Conditions, c.Generation, now, mcpv1alpha1.ConditionReady, status, reason, msg)
	st.ObservedGeneration = c.Generation
}

// credentialReady is Ready: the server usable for this credential, a valid token held, and the
// MCP server having accepted it.
func credentialReady(c *mcpv1alpha1.UpstreamCredential, obs credentialObserved, s lifecycle.Status) (string, metav1.ConditionStatus, string) {
	auth := meta.FindStatusCondition(c.Status.Conditions, mcpv1alpha1.ConditionAuthenticated)
	check := s.Connected // set only when this pass checked (or could not check) the token
	switch {
	case obs.serverReason != "":
		return obs.serverReason, metav1.ConditionFalse, obs.facts.ConfigErr.Error()
	case auth == nil || auth.Status == metav1.ConditionUnknown:
		return mcpv1alpha1.ReasonReconciling, metav1.ConditionUnknown, "The controller could not tell yet"
	case auth.Status != metav1.ConditionTrue:
		return auth.Reason, metav1.ConditionFalse, auth.Message
	case check != nil && check.Status == lifecycle.True:
		tools := int32(0)
		if s.Server != nil {
			tools = s.Server.Tools
		}
		return mcpv1alpha1.ReasonVerified, metav1.ConditionTrue, fmt.Sprintf(
			"The MCP server accepted the token (%d tools); it is checked again after each refresh, no session is kept", tools)
	case check != nil && check.Reason == lifecycle.ReasonSuspended:
		return check.Reason, metav1.ConditionFalse, check.Message
	case check != nil:
		return check.Reason, metav1.ConditionFalse, "The token could not be checked with the MCP server: " + check.Message
	}
	if prev := meta.FindStatusCondition(c.Status.Conditions, mcpv1alpha1.ConditionReady); prev != nil {
		return prev.Reason, prev.Status, prev.Message
	}
	return mcpv1alpha1.ReasonReconciling, metav1.ConditionUnknown, "The token was not checked with the MCP server yet"
}
