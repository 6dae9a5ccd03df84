package cli

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

func server(cid string, conds ...metav1.Condition) *mcpv1alpha1.UpstreamServer {
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}}
	us.Status.Conditions = conds
	us.Status.LastCorrelationID = cid
	return us
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
}

func credential(cid string, conds ...metav1.Condition) *mcpv1alpha1.UpstreamCredential {
	c := &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s-user-alice"},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "s"},
			Subjects: []mcpv1alpha1.CredentialSubject{{Kind: mcpv1alpha1.SubjectUser, Name: "alice"}}}}
	c.Status.Conditions = conds
	c.Status.LastCorrelationID = cid
	return c
}

// A login's outcome reads a server's and a credential's status alike (the credential's mirrors
// the server's token part).
func TestLoginOutcome(t *testing.T) {
	const cid, secret = "cid-1", "s-login-abcde"
	stored := cond(mcpv1alpha1.ConditionLoginAccepted, "True", mcpv1alpha1.ReasonLoginCompleted, "Login hand-over "+secret+" was stored; the server acts as bob")
	cases := map[string]struct {
		cid      string
		conds    []metav1.Condition
		done     bool
		exitCode int
	}{
		"not taken over yet":       {"old", []metav1.Condition{cond(mcpv1alpha1.ConditionAuthorizationRequired, "True", mcpv1alpha1.ReasonNoToken, "")}, false, 0},
		"ready":                    {cid, []metav1.Condition{cond(mcpv1alpha1.ConditionReady, "True", mcpv1alpha1.ReasonReady, "")}, true, ExitOK},
		"stored but not connected": {cid, []metav1.Condition{cond(mcpv1alpha1.ConditionReady, "False", mcpv1alpha1.ReasonConnectFailed, "boom")}, true, ExitFailed},
		"still reconciling":        {cid, []metav1.Condition{cond(mcpv1alpha1.ConditionReady, "Unknown", mcpv1alpha1.ReasonReconciling, "")}, false, 0},
		"our hand-over rejected": {"old", []metav1.Condition{cond(mcpv1alpha1.ConditionAuthorizationRequired, "True", mcpv1alpha1.ReasonHandOverRejected,
			"Login hand-over "+secret+" was rejected: bad")}, true, ExitFailed},
		"our hand-over rejected while a token is held": {"old", []metav1.Condition{cond(mcpv1alpha1.ConditionAuthorizationRequired, "False", mcpv1alpha1.ReasonTokenValid, ""),
			cond(mcpv1alpha1.ConditionLoginAccepted, "False", mcpv1alpha1.ReasonHandOverRejected, "Login hand-over "+secret+" was rejected: bad")}, true, ExitFailed},
		"another hand-over rejected": {"old", []metav1.Condition{cond(mcpv1alpha1.ConditionAuthorizationRequired, "True", mcpv1alpha1.ReasonHandOverRejected,
			"Login hand-over other was rejected: bad")}, false, 0},
		// A refresh right after the login replaced the correlation ID: LoginAccepted still says ours was stored.
		"stored, then refreshed": {"refresh", []metav1.Condition{stored, cond(mcpv1alpha1.ConditionReady, "True", mcpv1alpha1.ReasonVerified, "")}, true, ExitOK},
		"another hand-over stored": {"other", []metav1.Condition{cond(mcpv1alpha1.ConditionLoginAccepted, "True", mcpv1alpha1.ReasonLoginCompleted, "Login hand-over other was stored"),
			cond(mcpv1alpha1.ConditionReady, "True", mcpv1alpha1.ReasonVerified, "")}, false, 0},
		"stored, credential's server gone": {cid, []metav1.Condition{stored, cond(mcpv1alpha1.ConditionReady, "False", mcpv1alpha1.ReasonServerNotFound, "no server")}, true, ExitFailed},
	}
	for name, tc := range cases {
		for kind, h := range map[string]*holder{
			kindServer:     serverHolder(server(tc.cid, tc.conds...)),
			kindCredential: credentialHolder(credential(tc.cid, tc.conds...)),
		} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				done, msg, err := loginOutcome(h, cid, secret)
				if done != tc.done {
					t.Fatalf("done = %t, want %t (msg %q, err %v)", done, tc.done, msg, err)
				}
				if done && ExitCode(err) != tc.exitCode {
					t.Errorf("exit code %d, want %d (%v)", ExitCode(err), tc.exitCode, err)
				}
				if !done && msg == "" {
					t.Error("no progress text while waiting")
				}
				if noun := h.noun(); err != nil && tc.exitCode == ExitFailed && strings.Contains(err.Error(), "not Ready") && !strings.Contains(err.Error(), "the "+noun+" is not Ready") {
					t.Errorf("the error does not name the %s: %v", noun, err)
				}
			})
		}
	}
}

func TestCredentialNeedsLogin(t *testing.T) {
	if err := credentialNeedsLogin(credential("")); err != nil {
		t.Errorf("a credential the controller has not reported on was refused: %v", err)
	}
	if err := credentialNeedsLogin(credential("", cond(mcpv1alpha1.ConditionAuthorizationRequired, "True", mcpv1alpha1.ReasonNoToken, ""))); err != nil {
		t.Errorf("a credential that asks for a login was refused: %v", err)
	}
	err := credentialNeedsLogin(credential("", cond(mcpv1alpha1.ConditionAuthorizationRequired, "False", mcpv1alpha1.ReasonTokenValid, "")))
	if err == nil || !strings.Contains(err.Error(), "--force") || ExitCode(err) != ExitFailed {
		t.Errorf("a credential with a valid token: %v", err)
	}
}

func TestReplacesLogin(t *testing.T) {
	c := credential("", cond(mcpv1alpha1.ConditionAuthorizationRequired, "True", mcpv1alpha1.ReasonRefreshTokenRejected, ""))
	if err := replacesLogin(c, "bob"); err != nil {
		t.Errorf("a credential without a login: %v", err)
	}
	c.Status.Token = &mcpv1alpha1.TokenStatus{ObtainedBy: "alice"}
	if err := replacesLogin(c, "alice"); err != nil {
		t.Errorf("alice logging in again: %v", err)
	}
	if err := replacesLogin(c, ""); err != nil {
		t.Errorf("an unknown caller (no SelfSubjectReview) is left to admission: %v", err)
	}
	err := replacesLogin(c, "bob")
	if err == nil || ExitCode(err) != ExitFailed || !strings.Contains(err.Error(), "holds the upstream login of alice") ||
		!strings.Contains(err.Error(), "user/alice would act upstream as whoever logs in") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("bob replacing alice's login: %v", err)
	}
}

func TestNeedsLogin(t *testing.T) {
	if err := needsLogin(server("")); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("no condition: %v", err)
	}
	if err := needsLogin(server("", cond(mcpv1alpha1.ConditionAuthorizationRequired, "False", mcpv1alpha1.ReasonLoginCompleted, ""))); err == nil {
		t.Error("a server that needs no login was accepted")
	}
	if err := needsLogin(server("", cond(mcpv1alpha1.ConditionAuthorizationRequired, "True", mcpv1alpha1.ReasonNoToken, ""))); err != nil {
		t.Errorf("a server that asks for a login was refused: %v", err)
	}
}

func TestHumanDuration(t *testing.T) {
	cases := map[time.Duration]string{
		42 * time.Second: "42s", 5 * time.Minute: "5m", 59*time.Minute + 59*time.Second: "59m",
		time.Hour: "1h", 3*time.Hour + 5*time.Minute: "3h5m", 72 * time.Hour: "3d", -90 * time.Second: "-1m",
	}
	for d, want := range cases {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestExitCode(t *testing.T) {
	if ExitCode(nil) != 0 || ExitCode(errString("x")) != 1 || ExitCode(&ExitError{Code: 2, Err: errString("t")}) != 2 {
		t.Error("exit codes")
	}
}

type errString string

func (e errString) Error() string { return string(e) }
