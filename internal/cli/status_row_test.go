package cli

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// statusRow reads each fact where kubectl's printer column of the same name reads it, and its
// message says what Ready's message hides: a Ready server that needs a login or whose
// refreshes fail.
func TestStatusRowSaysWhatReadyHides(t *testing.T) {
	ready := cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, mcpv1alpha1.ReasonReady, "The server is authenticated and connected")
	login := &mcpv1alpha1.AuthorizationStatus{LoginCommand: "mcpproxy auth login s -n ns"}
	cases := map[string]struct {
		status                           mcpv1alpha1.UpstreamServerStatus
		ready, reason, loginCmd, message string
	}{
		"ready": {status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{ready}},
			ready: "True", reason: "Ready", message: "The server is authenticated and connected"},
		"ready, refresh token rejected": {status: mcpv1alpha1.UpstreamServerStatus{Authorization: login, Conditions: []metav1.Condition{ready,
			cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue, mcpv1alpha1.ReasonRefreshTokenRejected, "Rejected. Run: mcpproxy auth login s -n ns")}},
			ready: "True", reason: "Ready", loginCmd: login.LoginCommand, message: "Rejected. Run: mcpproxy auth login s -n ns"},
		"ready, refreshes failing": {status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{ready},
			Refresh: &mcpv1alpha1.RefreshStatus{FailedAttempts: 2, LastFailureReason: "HTTP 503"}},
			ready: "True", reason: "Ready", message: "Last refresh failed: HTTP 503"},
		"waiting for a login": {status: mcpv1alpha1.UpstreamServerStatus{Authorization: login, Conditions: []metav1.Condition{
			cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, mcpv1alpha1.ReasonNoToken, "No token is stored for this server"),
			cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue, mcpv1alpha1.ReasonNoToken, "No token. Run: mcpproxy auth login s -n ns")}},
			ready: "False", reason: "NoToken", loginCmd: login.LoginCommand, message: "No token is stored for this server"},
		"not reconciled yet": {ready: "Unknown"},
	}
	for name, c := range cases {
		us := &mcpv1alpha1.UpstreamServer{Status: c.status}
		r := statusRow(us)
		if r.Ready != c.ready || r.Reason != c.reason || r.LoginCommand != c.loginCmd || r.Message != c.message {
			t.Errorf("%s: got ready %q reason %q login %q message %q, want %q %q %q %q", name,
				r.Ready, r.Reason, r.LoginCommand, r.Message, c.ready, c.reason, c.loginCmd, c.message)
		}
	}
}
