package controllers_test

import (
	"context"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// perSubjectPair is a PerSubject server with two credentials, alice's (for user alice) and
// bob's (for ServiceAccount agent), each logged in as its own upstream user and Ready.
type perSubjectPair struct {
	srv        *oauthserver.Server
	h          *harness
	us         *mcpv1alpha1.UpstreamServer
	alice, bob *mcpv1alpha1.UpstreamCredential
}

func startPerSubjectPair(t *testing.T, opts oauthserver.Options) perSubjectPair {
	t.Helper()
	p := perSubjectPair{srv: testenv.StartOAuthServer(t, opts)}
	ns := newNamespace(t)
	p.h = startHarness(t, ns, "")
	p.us = createPerSubjectServer(t, ns, "gh", p.srv.MCPURL())
	p.alice = createCredential(t, ns, "alice", "gh", userSubject("alice"))
	p.bob = createCredential(t, ns, "bob", "gh", saSubject(ns, "agent"))
	for _, c := range []*mcpv1alpha1.UpstreamCredential{p.alice, p.bob} {
		testenv.Eventually(t, 20*time.Second, c.Name+" asks for a login", func() bool { return credNeedsLogin(getCredential(t, c), mcpv1alpha1.ReasonNoToken) })
	}
	waitCounts(t, p.us, "2/0/2/0", 20*time.Second)
	testenv.LoginCredential(t, p.srv, p.alice, "alice")
	testenv.LoginCredential(t, p.srv, p.bob, "bob")
	p.alice, p.bob = waitCredVerified(t, p.alice, 20*time.Second), waitCredVerified(t, p.bob, 20*time.Second)
	waitCounts(t, p.us, "2/2/0/0", 20*time.Second)
	return p
}

// record is credential c's stored token.
func (p perSubjectPair) record(t *testing.T, c *mcpv1alpha1.UpstreamCredential) (rev uint64, refreshToken string, err error) {
	t.Helper()
	rec, err := p.h.Store.Load(upstream.CredentialStoreKey(get(t, p.us), c))
	if err != nil {
		return 0, "", err
	}
	return rec.Revision, rec.RefreshToken, nil
}

// The login command names the credential's first subject, and the credential itself when the
// CLI would not find it by that subject's default name.
func TestCredentialLoginCommandNamesTheFirstSubject(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	c := createCredential(t, ns, "agent-cred", "gh", saSubject(ns, "agent"), userSubject("alice"))
	var cur *mcpv1alpha1.UpstreamCredential
	testenv.Eventually(t, 20*time.Second, "a login asked for", func() bool { cur = getCredential(t, c); return credNeedsLogin(cur, mcpv1alpha1.ReasonNoToken) })
	want := "mcpproxy auth login gh -n " + ns + " --for serviceaccount/" + ns + "/agent --credential agent-cred"
	if a := cur.Status.Authorization; a == nil || a.LoginCommand != want || a.AuthorizationServer != srv.Issuer() {
		t.Fatalf("status.authorization = %+v, want the login command %q", a, want)
	}
	if r := credCondition(cur, mcpv1alpha1.ConditionReady); r == nil || r.Status != "False" || r.Reason != mcpv1alpha1.ReasonNoToken {
		t.Fatalf("Ready while waiting for a login: %s", describeCred(cur))
	}
	if credCondition(cur, mcpv1alpha1.ConditionConnected) != nil {
		t.Fatalf("a credential keeps no session, yet has Connected: %s", describeCred(cur))
	}
}

// Two people's credentials of one server refresh on their own, each as its own upstream user,
// each refreshed token proven with one MCP request and no session kept.
func TestCredentialsRefreshIndependentlyAsTheirOwnUsers(t *testing.T) {
	p := startPerSubjectPair(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	for _, c := range []*mcpv1alpha1.UpstreamCredential{p.alice, p.bob} {
		if !ownedByServer(c, p.us) {
			t.Fatalf("%s has no owner reference to its server: %+v", c.Name, c.OwnerReferences)
		}
		if c.Status.Token == nil || !c.Status.Token.HasRefreshToken || c.Status.Refresh == nil || c.Status.Refresh.NextRefreshTime == nil {
			t.Fatalf("%s's status does not describe its token: %+v %+v", c.Name, c.Status.Token, c.Status.Refresh)
		}
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		st := p.srv.Stats()
		if st.Users["alice"].Refreshes >= 3 && st.Users["bob"].Refreshes >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refreshes in 40s with a 2s lifetime: %+v", st.Users)
		}
		for _, c := range []*mcpv1alpha1.UpstreamCredential{p.alice, p.bob} {
			if cur := getCredential(t, c); credNeedsLogin(cur, "") {
				t.Fatalf("%s asked for a login while refreshing: %s", c.Name, describeCred(cur))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := p.srv.Stats()
	if st.RefreshReuseDetected != 0 || st.MaxConcurrentRefreshes > 1 {
		t.Fatalf("refresh tokens reused (%d) or spent concurrently (%d)", st.RefreshReuseDetected, st.MaxConcurrentRefreshes)
	}
	// Each refreshed token was proven: the MCP server saw each user's tokens at least once per
	// refresh, and the manager holds no session for the server or its credentials.
	for _, u := range []string{"alice", "bob"} {
		if n := st.Users[u]; n.MCPValidToken < n.Refreshes {
			t.Errorf("%s: %d MCP requests for %d refreshes", u, n.MCPValidToken, n.Refreshes)
		}
	}
	if p.h.SessionConnected(p.us) || p.h.Sessions.Get(upstream.CredentialSessionKey(p.alice)) != nil {
		t.Fatal("a session is kept for a PerSubject server or a credential")
	}
}

// The authorization server rejects alice's refresh token (her grant was revoked at the
// provider): alice, and only alice, asks for a login; bob goes on refreshing.
func TestRejectedRefreshTokenAsksForLoginOnThatCredentialOnly(t *testing.T) {
	p := startPerSubjectPair(t, oauthserver.Options{AccessTokenTTL: 3 * time.Second})
	_, rt, err := p.record(t, p.alice)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := p.h.Store.Load(upstream.CredentialStoreKey(get(t, p.us), p.alice))
	client := oauth.ClientRegistration{ClientID: rec.Client.ClientID, ClientSecret: rec.Client.ClientSecret, AuthMethod: rec.Client.AuthMethod}
	if err := oauth.Revoke(context.Background(), rec.RevocationEndpoint, client, rt, "refresh_token", nil); err != nil {
		t.Fatal(err)
	}
	var cur *mcpv1alpha1.UpstreamCredential
	testenv.Eventually(t, 20*time.Second, "alice: RefreshTokenRejected", func() bool {
		cur = getCredential(t, p.alice)
		return credNeedsLogin(cur, mcpv1alpha1.ReasonRefreshTokenRejected)
	})
	if a := cur.Status.Authorization; a == nil || a.LoginCommand != "mcpproxy auth login gh -n "+p.us.Namespace+" --for user/alice --credential alice" {
		t.Fatalf("alice's login command: %+v", a)
	}
	bobBefore := p.srv.Stats().Users["bob"].Refreshes
	testenv.Eventually(t, 20*time.Second, "bob refreshes twice more", func() bool { return p.srv.Stats().Users["bob"].Refreshes >= bobBefore+2 })
	if b := getCredential(t, p.bob); credNeedsLogin(b, "") || !credVerified(b) {
		t.Fatalf("bob is affected by alice's rejection: %s", describeCred(b))
	}
	waitCounts(t, p.us, "2/1/1/0", 20*time.Second) // alice's access token expires: not Ready

	// A new login lifts it, for alice alone.
	testenv.LoginCredential(t, p.srv, p.alice, "alice")
	testenv.Eventually(t, 20*time.Second, "alice Ready again", func() bool {
		c := getCredential(t, p.alice)
		return credVerified(c) && !credNeedsLogin(c, "")
	})
	if st := p.srv.Stats(); st.RefreshReuseDetected != 0 {
		t.Fatalf("a refresh token was spent twice: %+v", st)
	}
}

// A token endpoint outage backs a credential's refreshes off in its status, keeps it Ready
// while its token is valid, is counted as failing on its server, and heals.
func TestCredentialRefreshOutageBacksOffInStatusAndHeals(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 6 * time.Second})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createPerSubjectServer(t, ns, "gh", srv.MCPURL())
	c := createCredential(t, ns, "carol", "gh", userSubject("carol"))
	testenv.LoginCredential(t, srv, c, "carol")
	waitCredVerified(t, c, 20*time.Second)
	srv.FailNextTokenRequests(2, oauthserver.Fault{Kind: oauthserver.FaultUnavailable})
	sawBackoffWhileReady, sawCounted := false, false
	deadline := time.Now().Add(40 * time.Second)
	for !(sawBackoffWhileReady && sawCounted) {
		if time.Now().After(deadline) {
			t.Fatalf("backoff while Ready: %t, counted as failing: %t", sawBackoffWhileReady, sawCounted)
		}
		cur := getCredential(t, c)
		if r := cur.Status.Refresh; r != nil && r.FailedAttempts > 0 && r.LastFailureReason != "" && r.NextRefreshTime != nil && credVerified(cur) {
			sawBackoffWhileReady = true
		}
		// Failing, Ready or not (the token may expire before the backoff's next try).
		n := counts(get(t, us))
		sawCounted = sawCounted || n == "1/1/0/1" || n == "1/0/0/1"
		time.Sleep(50 * time.Millisecond)
	}
	testenv.Eventually(t, 30*time.Second, "healed", func() bool {
		cur := getCredential(t, c)
		return credVerified(cur) && cur.Status.Refresh != nil && cur.Status.Refresh.FailedAttempts == 0 && !credNeedsLogin(cur, "")
	})
	waitCounts(t, us, "1/1/0/0", 20*time.Second)
}
