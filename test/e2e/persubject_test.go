package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// testPerPersonCredentials is issue 17 with the real binaries: a PerSubject server, the
// manager's gateway authenticating every caller (TokenReview and SubjectAccessReview, no
// loopback exemption) and the credential admission policies (binding, creator) in force. With
// the real CLI, a person logs in for ServiceAccount agent-a as upstream user alice and for
// agent-b as bob (`mcpproxy auth login gh --for serviceaccount/NS/agent-a --login-hint alice`,
// the test binary as $BROWSER). Each agent's whoami, through /servers/NS/gh/mcp and through
// /mcp, answers its own user after the logins and after each refresh, two or more of each
// credential. agent-c, allowed `use` but bound to no credential, is told the exact command that
// logs in for it. `mcpproxy auth logout credential/…` of alice's credential revokes it: agent-a
// is told to log in (on /mcp the server's tools leave its session) while agent-b goes on as bob
// through both routes across another refresh; the command agent-a was told, run as it is (plus
// the login hint), makes it alice again. The OAuth server never sees a refresh token spent
// twice, and every refresh of bob's is the one the token store counts.
func testPerPersonCredentials(t *testing.T) {
	start := time.Now()
	// Refreshes every ~2s per credential, 1s clear of the test server's whole-second exp.
	const ttl, before = 4 * time.Second, 2 * time.Second
	const server = "gh"
	ns := newNamespace(t, "s6-per-person")
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	testenv.InstallCredentialPolicyOn(t, kube, root, ns)
	o := startOAuth(t, "s6", "-access-token-ttl="+ttl.String())
	m := newManager(t, "s6", false, nil)
	m.authenticatedGateway()
	m.start(t)
	createServer(t, ns, server, o.mcp, serverOpts{perSubject: true, scopes: []string{"mcp", "profile"}, refreshBefore: before})
	answers := newAnswerLog(t, "s6")
	agents := map[string]*caller{}
	for _, sa := range []string{"agent-a", "agent-b", "agent-c"} {
		agents[sa] = newCaller(t, ns, sa, answers)
	}
	grantUse(t, ns, server, "agent-a", "agent-b", "agent-c")
	waitServer(t, ns, server, "is Ready, its authorization server discovered", 30*time.Second, func(us *mcpv1alpha1.UpstreamServer) bool {
		c := readyCondition(us)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == mcpv1alpha1.ReasonAuthorizationServerDiscovered &&
			c.ObservedGeneration == us.Generation
	})
	pass := fmt.Sprintf("http://%s/servers/%s/%s/mcp", m.gateway, ns, server)
	agg := fmt.Sprintf("http://%s/mcp", m.gateway)
	if status, e := initialize(t, nil, pass); status != http.StatusUnauthorized || e.Code != gateway.CodeUnauthenticated {
		t.Fatalf("a loopback call without a token: %d %s; want 401 (the gateway authenticates every caller here)", status, e)
	}

	// A person logs in for each agent with the real CLI, as the agent's upstream user.
	users := map[string]string{"agent-a": "alice", "agent-b": "bob"}
	credName := map[string]string{}
	br := newBrowser(t, "s6-cli", true, 0)
	login := func(sa string, args ...string) {
		t.Helper()
		code, out := runCLI(t, "s6-login-"+sa, br.env, 90*time.Second, append(args, "--login-hint", users[sa], "--timeout=60s")...)
		if code != 0 {
			t.Fatalf("logging in for %s: %v exited %d:\n%s", sa, args, code, out)
		}
		c := boundCredential(t, ns, sa)
		if c == nil || !credentialVerified(c) {
			t.Fatalf("after the login for %s: %s", sa, describeCredential(c))
		}
		if creator := c.Annotations[mcpv1alpha1.AnnotationCreatedBy]; creator == "" || c.Status.Owner != creator {
			t.Errorf("credential %s: created by %q, owned by %q; want its creator, who logged in, as both", c.Name, creator, c.Status.Owner)
		}
		credName[sa] = c.Name
	}
	for _, sa := range []string{"agent-a", "agent-b"} {
		login(sa, "auth", "login", server, "-n", ns, "--for", "serviceaccount/"+ns+"/"+sa)
	}
	logins := time.Since(start)
	var hints []string
	for _, op := range br.opens(t) {
		if op.Resource != o.mcp {
			t.Errorf("the CLI opened the browser for resource %q, want %q", op.Resource, o.mcp)
		}
		hints = append(hints, op.LoginHint)
	}
	if !slices.Equal(hints, []string{"alice", "bob"}) {
		t.Errorf("the browser was asked to log in %v; want alice, then bob", hints)
	}
	if f := br.followFailures(t); len(f) > 0 {
		t.Fatalf("the browser did not complete the logins: %v", f)
	}

	// Each agent opens a session on both routes and keeps it; a route is "SA pass" or "SA /mcp".
	whoamiTool := gateway.ToolName(ns, server, "whoami")
	sessions := map[string]*mcp.ClientSession{}
	for _, sa := range []string{"agent-a", "agent-b"} {
		sessions[sa+" pass"] = agents[sa].connect(t, pass)
		sessions[sa+" /mcp"] = agents[sa].connect(t, agg)
		waitTools(t, sessions[sa+" /mcp"], sa+"'s /mcp session offers "+whoamiTool, func(names []string) bool { return slices.Contains(names, whoamiTool) })
	}
	both := []string{"agent-a pass", "agent-a /mcp", "agent-b pass", "agent-b /mcp"}
	calls := 0
	check := func(when string, routes ...string) {
		t.Helper()
		for _, r := range routes {
			sa, via, _ := strings.Cut(r, " ")
			tool := "whoami"
			if via == "/mcp" {
				tool = whoamiTool
			}
			got, err := whoami(sessions[r], tool)
			calls++
			if err != nil || got != users[sa] {
				t.Fatalf("%s: whoami as %s through %s = %q, %v; want %q", when, sa, via, got, err, users[sa])
			}
		}
	}
	check("after the logins", both...)

	// Each credential refreshes on its own; the same sessions go on as the same users.
	base := o.stats(t).Users
	seen := base
	testenv.Eventually(t, 30*time.Second, "two refreshes of each credential, whoami checked after each", func() (bool, string) {
		now := o.stats(t).Users
		if now["alice"].Refreshes != seen["alice"].Refreshes || now["bob"].Refreshes != seen["bob"].Refreshes {
			check(fmt.Sprintf("after %d refreshes of alice's and %d of bob's", now["alice"].Refreshes, now["bob"].Refreshes), both...)
			seen = now
		}
		da, db := now["alice"].Refreshes-base["alice"].Refreshes, now["bob"].Refreshes-base["bob"].Refreshes
		return da >= 2 && db >= 2, fmt.Sprintf("alice's credential refreshed %d times, bob's %d", da, db)
	})

	// agent-c may use the server but is bound to no credential: it is told the command that
	// logs in for it, exactly; /mcp offers it none of the server's tools.
	wantC := "mcpproxy auth login " + server + " -n " + ns + " --for serviceaccount/" + ns + "/agent-c"
	status, e := initialize(t, agents["agent-c"], pass)
	if status != http.StatusServiceUnavailable || e.Code != gateway.CodeAuthorizationRequired || e.Data == nil ||
		e.Data.Reason != gateway.ReasonNoCredential || e.Data.LoginCommand != wantC || !strings.Contains(e.Message, "run `"+wantC+"`") {
		t.Fatalf("agent-c, without a credential: %d %s; want 503, code %d, reason %s and the command %q in message and data",
			status, e, gateway.CodeAuthorizationRequired, gateway.ReasonNoCredential, wantC)
	}
	aggC := agents["agent-c"].connect(t, agg)
	if names := toolNames(t, aggC); slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ns+"."+server+".") }) {
		t.Fatalf("/mcp offers agent-c, which has no credential, the server's tools: %v", names)
	}

	// alice's credential is logged out (revoked) with the real CLI.
	alice := credName["agent-a"]
	preLogout := o.stats(t)
	code, out := runCLI(t, "s6-logout-alice", nil, 90*time.Second, "auth", "logout", "credential/"+alice, "-n", ns, "--timeout=60s")
	if code != 0 {
		t.Fatalf("mcpproxy auth logout credential/%s exited %d:\n%s", alice, code, out)
	}
	loggedOut := o.stats(t)
	c := getCredential(t, ns, alice)
	if ar := condition(c, mcpv1alpha1.ConditionAuthorizationRequired); ar == nil || ar.Status != metav1.ConditionTrue || ar.Reason != mcpv1alpha1.ReasonLoggedOut {
		t.Fatalf("after the logout: %s; want AuthorizationRequired=True (LoggedOut)", describeCredential(c))
	}
	if loggedOut.Revocations <= preLogout.Revocations {
		t.Errorf("the logout revoked nothing at the authorization server (%d revocations before, %d after)", preLogout.Revocations, loggedOut.Revocations)
	}
	// agent-a is told to log in; neither of its open sessions acts as alice any more.
	wantA := "mcpproxy auth login " + server + " -n " + ns + " --for serviceaccount/" + ns + "/agent-a"
	var told rpcError
	testenv.Eventually(t, 20*time.Second, "agent-a told to log in to "+alice, func() (bool, string) {
		status, told = initialize(t, agents["agent-a"], pass)
		ok := status == http.StatusServiceUnavailable && told.Code == gateway.CodeAuthorizationRequired && told.Data != nil &&
			told.Data.Reason == mcpv1alpha1.ReasonLoggedOut && told.Data.Credential == alice &&
			strings.HasPrefix(told.Data.LoginCommand, wantA) && strings.Contains(told.Message, "run `"+told.Data.LoginCommand+"`")
		return ok, fmt.Sprintf("%d %s", status, told)
	})
	if got, err := whoami(sessions["agent-a pass"], "whoami"); err == nil {
		t.Fatalf("agent-a's open pass-through session still answers whoami (%q) after the logout", got)
	}
	waitTools(t, sessions["agent-a /mcp"], "agent-a's /mcp session drops the server's tools", func(names []string) bool { return !slices.Contains(names, whoamiTool) })

	// agent-b goes on as bob through both routes, across another refresh of its credential.
	check("after alice's logout", "agent-b pass", "agent-b /mcp")
	testenv.Eventually(t, 20*time.Second, "another refresh of bob's credential", func() (bool, string) {
		n := o.stats(t).Users["bob"].Refreshes - loggedOut.Users["bob"].Refreshes
		return n >= 1, fmt.Sprintf("%d refreshes since the logout", n)
	})
	check("after bob's refresh that followed alice's logout", "agent-b pass", "agent-b /mcp")
	if now := o.stats(t).Users["alice"]; now.Refreshes != loggedOut.Users["alice"].Refreshes || now.MCPValidToken != loggedOut.Users["alice"].MCPValidToken {
		t.Errorf("alice's revoked login was still used: %d refreshes and %d valid MCP requests after the logout",
			now.Refreshes-loggedOut.Users["alice"].Refreshes, now.MCPValidToken-loggedOut.Users["alice"].MCPValidToken)
	}

	// The command agent-a was told logs it in again (with the upstream user to log in as). The
	// login follows the catalog's failed connect of the logged-out credential within its retry
	// delay; the catalog tries again once the delay is over, so /mcp shows the tools again well
	// before its periodic resync (30s; before, it waited for that resync).
	login("agent-a", strings.Fields(strings.TrimPrefix(told.Data.LoginCommand, "mcpproxy "))...)
	if credName["agent-a"] != alice {
		t.Errorf("the login command agent-a was told logged in to %s, not its credential %s", credName["agent-a"], alice)
	}
	_ = sessions["agent-a pass"].Close()
	sessions["agent-a pass"] = agents["agent-a"].connect(t, pass)
	testenv.Eventually(t, 15*time.Second, "agent-a's /mcp session lists the server's tools again, before the periodic resync", func() (bool, string) {
		names := toolNames(t, sessions["agent-a /mcp"])
		return slices.Contains(names, whoamiTool), fmt.Sprint(names)
	})
	check("after alice's new login", "agent-a pass", "agent-a /mcp", "agent-b pass", "agent-b /mcp")

	for _, cs := range sessions {
		_ = cs.Close()
	}
	_ = aggC.Close()
	for _, a := range agents {
		a.closeIdle()
	}
	m.stop()
	final := o.stats(t)
	if final.RefreshReuseDetected != 0 || final.RefreshReuseWithinGrace != 0 || final.CodeReuses != 0 {
		t.Errorf("a refresh token or code was spent twice: %d reuses detected, %d within grace, %d code reuses",
			final.RefreshReuseDetected, final.RefreshReuseWithinGrace, final.CodeReuses)
	}
	if final.MaxConcurrentRefreshes > 1 {
		t.Errorf("%d refreshes of one grant were in flight at once; want one writer per credential", final.MaxConcurrentRefreshes)
	}
	if a, b := final.Users["alice"].Authorizations, final.Users["bob"].Authorizations; a != 2 || b != 1 || final.Authorizations != 3 {
		t.Errorf("authorizations: alice %d, bob %d, %d in all; want 2, 1 and 3 (the logins this test made)", a, b, final.Authorizations)
	}
	us := getServer(t, ns, server)
	bobCred := getCredential(t, ns, credName["agent-b"])
	if rec := m.credentialRecord(t, us, bobCred); rec == nil || rec.RefreshCount != int64(final.Users["bob"].Refreshes) {
		t.Errorf("the token store holds %v for bob's credential; want its %d refreshes, all the controller's", recordSummary(rec), final.Users["bob"].Refreshes)
	}
	if answers.size(t) == 0 {
		t.Error("nothing the gateway answered was recorded")
	}
	t.Logf("logins in %s; %d refreshes (alice %d, bob %d), %d whoami calls all answered by the caller's own user, %d expired tokens upstream",
		logins.Round(100*time.Millisecond), final.Refreshes, final.Users["alice"].Refreshes, final.Users["bob"].Refreshes, calls, final.MCPExpiredToken)
	addSummary(summaryRow{scenario: "6 per-person credentials", duration: time.Since(start), refreshes: final.Refreshes,
		reuses: fmt.Sprintf("%d/%d", final.RefreshReuseDetected, final.RefreshReuseWithinGrace), logins: final.Authorizations,
		notes: fmt.Sprintf("alice %d / bob %d refreshes, %d whoami calls each its own user; no-credential and logged-out callers told their login",
			final.Users["alice"].Refreshes, final.Users["bob"].Refreshes, calls)})
}

// waitTools polls the tools a session is offered until ok holds.
func waitTools(t *testing.T, cs *mcp.ClientSession, what string, ok func([]string) bool) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, what, func() (bool, string) {
		names := toolNames(t, cs)
		return ok(names), fmt.Sprint(names)
	})
}

// boundCredential is the UpstreamCredential of ns that lists ServiceAccount sa (nil if none).
func boundCredential(t *testing.T, ns, sa string) *mcpv1alpha1.UpstreamCredential {
	t.Helper()
	var list mcpv1alpha1.UpstreamCredentialList
	if err := kube.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing credentials: %v", err)
	}
	want := mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: ns, Name: sa}
	for i := range list.Items {
		if slices.Contains(list.Items[i].Spec.Subjects, want) {
			return &list.Items[i]
		}
	}
	return nil
}

// getCredential reads a credential from the API server (nil if it does not exist).
func getCredential(t *testing.T, ns, name string) *mcpv1alpha1.UpstreamCredential {
	t.Helper()
	c := &mcpv1alpha1.UpstreamCredential{}
	if err := kube.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, c); err != nil {
		t.Fatalf("reading UpstreamCredential %s/%s: %v", ns, name, err)
	}
	return c
}

func condition(c *mcpv1alpha1.UpstreamCredential, typ string) *metav1.Condition {
	if c == nil {
		return nil
	}
	return meta.FindStatusCondition(c.Status.Conditions, typ)
}

func readyCondition(us *mcpv1alpha1.UpstreamServer) *metav1.Condition {
	if us == nil {
		return nil
	}
	return meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
}

// credentialVerified reports Ready=True with reason Verified: the MCP server accepted the token.
func credentialVerified(c *mcpv1alpha1.UpstreamCredential) bool {
	r := condition(c, mcpv1alpha1.ConditionReady)
	return r != nil && r.Status == metav1.ConditionTrue && r.Reason == mcpv1alpha1.ReasonVerified
}

// describeCredential is a one-line summary of a credential's conditions, for failure messages.
func describeCredential(c *mcpv1alpha1.UpstreamCredential) string {
	if c == nil {
		return "<no credential>"
	}
	s := "credential " + c.Name + ":"
	for _, cond := range c.Status.Conditions {
		s += fmt.Sprintf(" %s=%s(%s)", cond.Type, cond.Status, cond.Reason)
	}
	return s
}

func recordSummary(rec *tokenstore.Record) string {
	if rec == nil {
		return "no record"
	}
	return fmt.Sprintf("a record of %d refreshes", rec.RefreshCount)
}
