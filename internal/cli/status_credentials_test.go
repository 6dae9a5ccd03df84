package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// statusFixture is a namespace as `auth status` reads it: a PerSubject server with three
// credentials (Ready, waiting for a login, Ready with failing refreshes), a Shared server, and a
// credential whose server is gone.
func statusFixture(now time.Time) ([]mcpv1alpha1.UpstreamServer, []mcpv1alpha1.UpstreamCredential) {
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	ready := func(reason, msg string) metav1.Condition {
		return cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg)
	}
	github := mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "github"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.github.example/mcp", CredentialMode: mcpv1alpha1.CredentialModePerSubject},
		Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{
			ready(mcpv1alpha1.ReasonAuthorizationServerDiscovered, "The authorization server was discovered; each caller uses their own UpstreamCredential"),
			cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionFalse, mcpv1alpha1.ReasonPerSubject, "")}}}
	linear := mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "linear"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.linear.example/mcp"},
		Status: mcpv1alpha1.UpstreamServerStatus{Conditions: []metav1.Condition{ready(mcpv1alpha1.ReasonReady, "The server is authenticated and connected")},
			Token:  &mcpv1alpha1.TokenStatus{ExpiresAt: at(30 * time.Minute), ObtainedBy: "admin"},
			Server: &mcpv1alpha1.ServerInfo{Name: "linear", Version: "1", Tools: 12}}}
	cred := func(name, server string, subjects ...mcpv1alpha1.CredentialSubject) mcpv1alpha1.UpstreamCredential {
		return mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name},
			Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: server}, Subjects: subjects}}
	}
	agent := cred("github-sa-team-a-agent", "github", sa("team-a", "agent"), user("carol"))
	agent.Status = mcpv1alpha1.UpstreamCredentialStatus{
		Conditions: []metav1.Condition{ready(mcpv1alpha1.ReasonVerified, "The MCP server accepted the credential's token")},
		Token:      &mcpv1alpha1.TokenStatus{ExpiresAt: at(50 * time.Minute), LastRefreshTime: at(-10 * time.Minute), ObtainedBy: "alice"}}
	bob := cred("github-user-bob", "github", user("bob"))
	bob.Status = mcpv1alpha1.UpstreamCredentialStatus{
		Conditions: []metav1.Condition{
			cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, mcpv1alpha1.ReasonNoToken, "No token is stored for this credential"),
			cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue, mcpv1alpha1.ReasonNoToken, "No token. Run: mcpproxy auth login github -n team-a --for user/bob")},
		Authorization: &mcpv1alpha1.AuthorizationStatus{LoginCommand: "mcpproxy auth login github -n team-a --for user/bob"}}
	dave := cred("github-group-platform", "github", group("platform"))
	dave.Status = mcpv1alpha1.UpstreamCredentialStatus{
		Conditions: []metav1.Condition{ready(mcpv1alpha1.ReasonVerified, "The MCP server accepted the credential's token")},
		Token:      &mcpv1alpha1.TokenStatus{ExpiresAt: at(-2 * time.Minute), ObtainedBy: "dave"},
		Refresh:    &mcpv1alpha1.RefreshStatus{FailedAttempts: 2, LastFailureReason: "HTTP 503 from the token endpoint"}}
	orphan := cred("gone-user-erin", "gone", user("erin"))
	orphan.Status = mcpv1alpha1.UpstreamCredentialStatus{Conditions: []metav1.Condition{
		cond(mcpv1alpha1.ConditionReady, metav1.ConditionFalse, mcpv1alpha1.ReasonServerNotFound, "UpstreamServer gone does not exist")}}
	// Listed out of order: the rows are not.
	return []mcpv1alpha1.UpstreamServer{linear, github}, []mcpv1alpha1.UpstreamCredential{bob, orphan, agent, dave}
}

// auth status lists each server's credentials under it (credential/NAME, as the commands take
// them), with the server's columns and words, SUBJECTS and ACCOUNT.
func TestStatusListsCredentialsUnderTheirServer(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	servers, creds := statusFixture(now)
	rows := statusRows(servers, creds)
	var order []string
	for _, r := range rows {
		order = append(order, r.Kind+":"+r.Name)
	}
	want := "UpstreamServer:github UpstreamCredential:github-group-platform " +
		"UpstreamCredential:github-sa-team-a-agent UpstreamCredential:github-user-bob UpstreamServer:linear UpstreamCredential:gone-user-erin"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("rows in order\n%s\nwant\n%s", got, want)
	}
	for name, o := range map[string]statusOptions{
		"status-credentials.golden":      {},
		"status-credentials-wide.golden": {output: "wide"},
		"status-credentials-all.golden":  {allNamespaces: true},
		"status-credentials-json.golden": {output: "json"},
		"status-credentials-yaml.golden": {output: "yaml"},
	} {
		var out, errOut bytes.Buffer
		env := &Env{Streams: Streams{Out: &out, ErrOut: &errOut}, Now: func() time.Time { return now }}
		if err := writeStatus(env, rows, &o, "team-a"); err != nil {
			t.Fatal(err)
		}
		golden(t, name, out.String())
	}

	// Without credentials, the table is the servers' as it was: no SUBJECTS, ACCOUNT only wide.
	var out bytes.Buffer
	env := &Env{Streams: Streams{Out: &out, ErrOut: &out}, Now: func() time.Time { return now }}
	if err := writeStatus(env, statusRows(servers, nil), &statusOptions{}, "team-a"); err != nil {
		t.Fatal(err)
	}
	if header := strings.SplitN(out.String(), "\n", 2)[0]; strings.Contains(header, "SUBJECTS") || strings.Contains(header, "ACCOUNT") {
		t.Errorf("a table without credentials has %q", header)
	}
}

// A credential's row reads each fact where a server's row reads it.
func TestCredentialRowSaysWhatReadyHides(t *testing.T) {
	c := credential("", cond(mcpv1alpha1.ConditionReady, metav1.ConditionTrue, mcpv1alpha1.ReasonVerified, "ok"),
		cond(mcpv1alpha1.ConditionAuthorizationRequired, metav1.ConditionTrue, mcpv1alpha1.ReasonRefreshTokenRejected, "Rejected. Run: mcpproxy auth login s -n ns --for user/alice"))
	c.Status.Authorization = &mcpv1alpha1.AuthorizationStatus{LoginCommand: "mcpproxy auth login s -n ns --for user/alice"}
	r := credentialRow(c, nil)
	if r.Kind != kindCredential || r.Server != "s" || r.Ready != "True" || r.Reason != mcpv1alpha1.ReasonVerified ||
		r.LoginCommand != c.Status.Authorization.LoginCommand || !strings.HasPrefix(r.Message, "Rejected.") ||
		strings.Join(r.Subjects, ",") != "user/alice" || r.URL != "" {
		t.Errorf("row %+v", r)
	}
}
