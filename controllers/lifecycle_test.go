package controllers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

func TestNoTokenAsksForLoginThenLoginMakesItReady(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "demo", srv.MCPURL())

	var cur *mcpv1alpha1.UpstreamServer
	testenv.Eventually(t, 20*time.Second, "AuthorizationRequired", func() bool { cur = get(t, us); return needsLogin(cur, mcpv1alpha1.ReasonNoToken) })
	a := cur.Status.Authorization
	if a == nil || a.LoginCommand != "mcpproxy auth login demo -n "+ns || a.AuthorizationServer != srv.Issuer() || a.Resource == "" {
		t.Fatalf("status.authorization does not tell a person what to do: %+v", a)
	}
	if c := condition(cur, mcpv1alpha1.ConditionReady); c == nil || c.Status != "False" {
		t.Fatalf("Ready should be False while waiting for a login: %s", describe(cur))
	}

	testenv.Login(t, srv, us)
	cur = waitReady(t, us, 20*time.Second)
	if needsLogin(cur, "") || cur.Status.Authorization != nil {
		t.Fatalf("AuthorizationRequired not cleared by the login: %s", describe(cur))
	}
	if cur.Status.Server == nil || cur.Status.Server.Tools < 3 || cur.Status.Token == nil || !cur.Status.Token.HasRefreshToken {
		t.Fatalf("status does not describe the server and token: %+v %+v", cur.Status.Server, cur.Status.Token)
	}
	// The hand-over Secret was ingested and deleted; the token is in the store.
	testenv.Eventually(t, 10*time.Second, "hand-over deleted", func() bool { return countHandOvers(t, ns) == 0 })
	if _, err := h.Store.Load(upstream.StoreKey(cur)); err != nil {
		t.Fatalf("token not in the store: %v", err)
	}
}

func TestServerWithoutAuthIsReady(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{NoAuth: true})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createServer(t, ns, "public", srv.MCPURL())
	cur := waitReady(t, us, 20*time.Second)
	if c := condition(cur, mcpv1alpha1.ConditionAuthenticated); c.Reason != mcpv1alpha1.ReasonNoAuthRequired {
		t.Fatalf("Authenticated reason = %s, want NoAuthRequired", c.Reason)
	}
}

func TestRestartKeepsTokensAndDoesNotRefreshUnexpiredOnes(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "restart", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)
	h.Stop()

	before := srv.Stats()
	h2 := startHarness(t, ns, h.StorePath)
	// A new manager: mark the old status stale by asking for a reconcile, then wait for it.
	annotate(t, us, "test/poke", "1")
	testenv.Eventually(t, 20*time.Second, "reconnected after restart", func() bool {
		return isReady(get(t, us)) && h2.SessionConnected(us)
	})
	after := srv.Stats()
	if after.Refreshes != before.Refreshes {
		t.Fatalf("restart refreshed an unexpired token: %d refreshes, was %d", after.Refreshes, before.Refreshes)
	}
	if needsLogin(get(t, us), "") {
		t.Fatal("restart asked for a login")
	}
}

func TestURLChangeNeverSendsTheOldTokenToTheNewTarget(t *testing.T) {
	first := testenv.StartOAuthServer(t, oauthserver.Options{})
	second := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createServer(t, ns, "moving", first.MCPURL())
	testenv.Login(t, first, us)
	waitReady(t, us, 20*time.Second)

	cur := get(t, us)
	cur.Spec.URL = second.MCPURL()
	if err := apiClient.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "login asked for the new URL", func() bool {
		c := get(t, us)
		return needsLogin(c, mcpv1alpha1.ReasonNoToken) && c.Status.ObservedGeneration == c.Generation
	})
	st := second.Stats()
	if st.MCPValidToken+st.MCPWrongAudience+st.MCPInvalidToken+st.MCPExpiredToken != 0 {
		t.Fatalf("a token reached the new server: %+v", st)
	}
}

func TestDeletionRevokesAndForgetsTheToken(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "gone", srv.MCPURL())
	testenv.Login(t, srv, us)
	cur := waitReady(t, us, 20*time.Second)
	key := upstream.StoreKey(cur)

	if err := apiClient.Delete(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "server deleted", func() bool {
		err := apiClient.Get(context.Background(), clientKey(us), &mcpv1alpha1.UpstreamServer{})
		return apierrors.IsNotFound(err)
	})
	if _, err := h.Store.Load(key); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("token still stored after deletion: %v", err)
	}
	if srv.Stats().Revocations == 0 {
		t.Fatal("the token was not revoked at the authorization server")
	}
}

func TestLogoutRevokesDeletesAndAsksForLogin(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "bye", srv.MCPURL())
	testenv.Login(t, srv, us)
	cur := waitReady(t, us, 20*time.Second)

	annotate(t, us, mcpv1alpha1.AnnotationLogoutRequestedAt, "2026-11-26T12:00:00Z")
	testenv.Eventually(t, 20*time.Second, "logged out", func() bool {
		c := get(t, us)
		return needsLogin(c, mcpv1alpha1.ReasonLoggedOut) && c.Status.LastHandledLogoutRequest == "2026-11-26T12:00:00Z"
	})
	if _, err := h.Store.Load(upstream.StoreKey(cur)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("token still stored after logout: %v", err)
	}
	if srv.Stats().Revocations == 0 {
		t.Fatal("logout did not revoke at the authorization server")
	}
	// A new login after logout works.
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)
}

func TestSuspendClosesTheSessionStopsRefreshesAndKeepsTheToken(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "paused", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)

	cur := get(t, us)
	cur.Spec.Suspend = true
	if err := apiClient.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "suspended", func() bool {
		c := condition(get(t, us), mcpv1alpha1.ConditionConnected)
		return c != nil && c.Reason == mcpv1alpha1.ReasonSuspended
	})
	if h.SessionConnected(us) {
		t.Fatal("the session is still open while suspended")
	}
	refreshes := srv.Stats().Refreshes
	// The stored token expires (a refresh would have been due before that), then the
	// reconciler looks at the suspended server once more: still no refresh.
	testenv.Eventually(t, 10*time.Second, "the stored token expired", func() bool {
		rec, err := h.Store.Load(upstream.StoreKey(cur))
		if err != nil {
			t.Fatalf("suspend dropped the token: %v", err)
		}
		return time.Now().After(rec.Expiry)
	})
	mark := h.ReconcileMark(cur)
	annotate(t, us, "test/poke", "suspended")
	h.WaitReconciled(t, cur, mark, 20*time.Second)
	if got := srv.Stats().Refreshes; got != refreshes {
		t.Fatalf("%d refreshes while suspended", got-refreshes)
	}

	cur = get(t, us)
	cur.Spec.Suspend = false
	if err := apiClient.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	// The expired token is refreshed from the kept refresh token; no login needed.
	waitReady(t, us, 20*time.Second)
	if needsLogin(get(t, us), "") {
		t.Fatal("resuming asked for a login")
	}
}
