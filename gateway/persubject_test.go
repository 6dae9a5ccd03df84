package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// Two ServiceAccounts are bound to two credentials of one PerSubject server, logged in as two
// upstream users: each one's whoami, through the pass-through and through /mcp, answers its
// own user, also after its token was refreshed. A third ServiceAccount, allowed to use the
// server but without a credential, is told the login command that names it, and /mcp lists
// the server's tools only to the first two. No caller ever sees an upstream token.
func TestPerSubjectCallersActAsTheirOwnUsers(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 3 * time.Second})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	tokens := map[string]string{}
	for _, sa := range []string{"agent-a", "agent-b", "agent-c"} {
		tokens[sa] = serviceAccountToken(t, ns, sa)
	}
	grantUseTo(t, ns, "gh", "agent-a", "agent-b", "agent-c")
	waitReady(t, us, 30*time.Second)
	users := map[string]string{"agent-a": "alice", "agent-b": "bob"}
	for sa, user := range users {
		loginCredentialAs(t, srv, createCredential(t, ns, user+"-gh", "gh", saSubject(ns, sa)), user)
	}

	p := &tap{}
	through := map[string]*mcp.ClientSession{}
	whoamiTool := ToolName(ns, "gh", "whoami")
	for sa := range users {
		through["pass-through "+sa] = connectAs(t, h.serverURL("gh"), tokens[sa], nil, p)
		agg := connectAs(t, h.url+"/mcp", tokens[sa], nil, p)
		testenv.Eventually(t, 30*time.Second, sa+" sees the server's tools on /mcp", func() bool {
			return slices.Contains(toolNames(t, agg), whoamiTool)
		})
		through["/mcp "+sa] = agg
	}
	check := func() {
		t.Helper()
		for via, cs := range through {
			sa := via[strings.LastIndex(via, " ")+1:]
			tool := "whoami"
			if strings.HasPrefix(via, "/mcp") {
				tool = whoamiTool
			}
			expectWhoami(t, cs, tool, users[sa], via)
		}
	}
	check()

	// Each credential refreshes on its own; the same sessions go on as the same users.
	before := srv.Stats().Users
	testenv.Eventually(t, 40*time.Second, "two refreshes of each credential", func() bool {
		now := srv.Stats().Users
		return now["alice"].Refreshes >= before["alice"].Refreshes+2 && now["bob"].Refreshes >= before["bob"].Refreshes+2
	})
	check()

	// The third has `use` but no credential: the login command names it, on both routes.
	status, rpcErr := rawCall(t, h.serverURL("gh"), tokens["agent-c"], nil, initializeBody, p)
	want := "mcpproxy auth login gh -n " + ns + " --for serviceaccount/" + ns + "/agent-c"
	if status != http.StatusServiceUnavailable || rpcErr.Code != CodeAuthorizationRequired || rpcErr.Data == nil ||
		rpcErr.Data.LoginCommand != want || rpcErr.Data.Reason != ReasonNoCredential || !strings.Contains(rpcErr.Message, want) {
		t.Fatalf("no credential: %d %+v %+v, want the command %q", status, rpcErr, rpcErr.Data, want)
	}
	aggC := connectAs(t, h.url+"/mcp", tokens["agent-c"], nil, p)
	if names := toolNames(t, aggC); slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ns+".gh.") }) {
		t.Fatalf("/mcp lists the server's tools to a caller without a credential: %v", names)
	}

	// Deleting alice's credential takes its tools from agent-a's /mcp session and leaves
	// agent-b's working.
	if err := apiClient.Delete(context.Background(), &mcpv1alpha1.UpstreamCredential{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-gh"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "alice's tools gone from agent-a's /mcp", func() bool {
		return !slices.Contains(toolNames(t, through["/mcp agent-a"]), whoamiTool)
	})
	expectWhoami(t, through["/mcp agent-b"], whoamiTool, "bob", "/mcp agent-b")
	expectWhoami(t, through["pass-through agent-b"], "whoami", "bob", "pass-through agent-b")
	testenv.Eventually(t, 10*time.Second, "agent-a told to log in", func() bool {
		_, rpcErr := rawCall(t, h.serverURL("gh"), tokens["agent-a"], nil, initializeBody, p)
		return rpcErr.Data != nil && rpcErr.Data.Reason == ReasonNoCredential
	})

	p.noSecrets(t, srv)
	for _, secret := range srv.IssuedSecrets() {
		if strings.Contains(h.logs.String(), secret) {
			t.Fatal("the gateway logged a token or secret")
		}
	}
	if st := srv.Stats(); st.RefreshReuseDetected != 0 {
		t.Fatalf("a refresh token was spent twice: %+v", st)
	}
}

// One ServiceAccount matches three credentials of a server: one through its namespace's
// ServiceAccount group (the oldest), two naming it. Naming it wins over the group; among those
// the oldest wins unless the Mcp-Credential header picks another, on either route. A
// ServiceAccount matching only the group gets the group's login; naming a credential it is not
// bound to is refused.
func TestPerSubjectCredentialSelection(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	tokA, tokB := serviceAccountToken(t, ns, "agent-a"), serviceAccountToken(t, ns, "agent-b")
	grantUseTo(t, ns, "gh", "agent-a", "agent-b")
	waitReady(t, us, 30*time.Second)
	team := createCredential(t, ns, "agents-gh", "gh", groupSubject("system:serviceaccounts:"+ns))
	loginCredentialAs(t, srv, team, "carol")
	loginCredentialAs(t, srv, createCredential(t, ns, "alice-gh", "gh", saSubject(ns, "agent-a")), "alice")
	loginCredentialAs(t, srv, createCredential(t, ns, "dave-gh", "gh", saSubject(ns, "agent-a")), "dave")

	p := &tap{}
	pass := h.serverURL("gh")
	expectWhoami(t, connectAs(t, pass, tokA, nil, p), "whoami", "alice", "agent-a's default")
	expectWhoami(t, connectAs(t, pass, tokB, nil, p), "whoami", "carol", "agent-b's group credential")
	expectWhoami(t, connectAs(t, pass, tokA, credentialHeader("dave-gh"), p), "whoami", "dave", "agent-a naming dave-gh")
	expectWhoami(t, connectAs(t, pass, tokA, credentialHeader(ns+"/agents-gh"), p), "whoami", "carol", "agent-a naming its group's")

	status, rpcErr := rawCall(t, pass, tokB, credentialHeader("alice-gh"), initializeBody, p)
	if status != http.StatusForbidden || rpcErr.Code != CodeForbidden || rpcErr.Data == nil || rpcErr.Data.Reason != ReasonCredentialRefused ||
		!strings.Contains(rpcErr.Message, "yours: agents-gh") {
		t.Fatalf("naming someone else's credential: %d %+v %+v", status, rpcErr, rpcErr.Data)
	}

	whoamiTool := ToolName(ns, "gh", "whoami")
	for _, c := range []struct {
		header http.Header
		want   string
	}{{nil, "alice"}, {credentialHeader("dave-gh"), "dave"}} {
		agg := connectAs(t, h.url+"/mcp", tokA, c.header, p)
		testenv.Eventually(t, 30*time.Second, "the server's tools on /mcp", func() bool { return slices.Contains(toolNames(t, agg), whoamiTool) })
		expectWhoami(t, agg, whoamiTool, c.want, "/mcp")
	}
	// On /mcp, a header naming someone else's credential of the server lists none of its tools.
	refused := connectAs(t, h.url+"/mcp", tokB, credentialHeader("alice-gh"), p)
	if names := toolNames(t, refused); slices.Contains(names, whoamiTool) {
		t.Fatalf("/mcp lists the tools of a credential the caller named but is not bound to: %v", names)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := refused.CallTool(ctx, &mcp.CallToolParams{Name: whoamiTool, Arguments: map[string]any{}}); err == nil {
		t.Fatal("a call of a tool that is not listed succeeded")
	}

	// A credential naming agent-b itself, nobody logged in to yet, wins over the group's:
	// agent-b is told to log in to that very credential.
	createCredential(t, ns, "pending-gh", "gh", saSubject(ns, "agent-b"))
	want := "mcpproxy auth login gh -n " + ns + " --for serviceaccount/" + ns + "/agent-b --credential pending-gh"
	testenv.Eventually(t, 20*time.Second, "agent-b told to log in to pending-gh", func() bool {
		status, rpcErr = rawCall(t, pass, tokB, nil, initializeBody, p)
		return status == http.StatusServiceUnavailable && rpcErr.Code == CodeAuthorizationRequired && rpcErr.Data != nil &&
			rpcErr.Data.LoginCommand == want && rpcErr.Data.Credential == "pending-gh" && strings.Contains(rpcErr.Message, want)
	})
	p.noSecrets(t, srv)
}
