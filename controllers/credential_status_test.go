package controllers

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// A credential's Ready: its server usable for it, a valid token, and the MCP server having
// accepted that token; when nothing was checked in a pass, Ready stays as the last check left it.
func TestCredentialReady(t *testing.T) {
	valid := &lifecycle.Condition{Status: lifecycle.True, Reason: lifecycle.ReasonTokenValid, Message: "valid"}
	accepted := &lifecycle.Condition{Status: lifecycle.True, Reason: lifecycle.ReasonConnected, Message: "ok"}
	verifiedReady := metav1.Condition{Type: mcpv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: mcpv1alpha1.ReasonVerified, Message: "accepted"}
	for name, tc := range map[string]struct {
		prev         []metav1.Condition
		serverReason string
		status       lifecycle.Status
		want         string
	}{
		"the server is missing":          {serverReason: mcpv1alpha1.ReasonServerNotFound, status: lifecycle.Status{Authenticated: valid}, want: "False/ServerNotFound"},
		"no token":                       {status: lifecycle.Status{Authenticated: &lifecycle.Condition{Status: lifecycle.False, Reason: lifecycle.ReasonNoToken}}, want: "False/NoToken"},
		"a token just accepted":          {status: lifecycle.Status{Authenticated: valid, Connected: accepted, Server: &lifecycle.ServerInfo{Tools: 3}}, want: "True/Verified"},
		"a token just refused":           {status: lifecycle.Status{Authenticated: valid, Connected: &lifecycle.Condition{Status: lifecycle.False, Reason: lifecycle.ReasonConnectFailed}}, want: "False/ConnectFailed"},
		"suspended":                      {status: lifecycle.Status{Authenticated: valid, Connected: &lifecycle.Condition{Status: lifecycle.False, Reason: lifecycle.ReasonSuspended}}, want: "False/Suspended"},
		"nothing checked, proven before": {prev: []metav1.Condition{verifiedReady}, status: lifecycle.Status{Authenticated: valid}, want: "True/Verified"},
		"nothing checked, never proven":  {status: lifecycle.Status{Authenticated: valid}, want: "Unknown/Reconciling"},
		"the store unreadable":           {status: lifecycle.Status{Authenticated: &lifecycle.Condition{Status: lifecycle.Unknown, Reason: lifecycle.ReasonTokenStoreError}}, want: "Unknown/Reconciling"},
	} {
		t.Run(name, func(t *testing.T) {
			c := &mcpv1alpha1.UpstreamCredential{}
			c.Generation = 2
			c.Status.Conditions = tc.prev
			obs := credentialObserved{observed: observed{facts: &lifecycle.Facts{Now: t0}}, serverReason: tc.serverReason}
			if tc.serverReason != "" {
				obs.facts.ConfigErr = errors.New("UpstreamServer \"gh\" does not exist")
			}
			applyCredentialStatus(c, obs, tc.status)
			r := findCondition(c.Status.Conditions, mcpv1alpha1.ConditionReady)
			if got := string(r.Status) + "/" + r.Reason; got != tc.want {
				t.Fatalf("Ready = %s (%s), want %s", got, r.Message, tc.want)
			}
			if r.ObservedGeneration != 2 || c.Status.ObservedGeneration != 2 {
				t.Errorf("observedGeneration not stamped: %d, %d", r.ObservedGeneration, c.Status.ObservedGeneration)
			}
			if findCondition(c.Status.Conditions, mcpv1alpha1.ConditionConnected) != nil {
				t.Error("a credential got a Connected condition")
			}
		})
	}
}

func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}
