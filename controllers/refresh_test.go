package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

func TestProactiveRefreshKeepsTheServerReadyOverManyLifetimes(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "fresh", srv.MCPURL())
	testenv.Login(t, srv, us)
	cur := waitReady(t, us, 20*time.Second)

	// Watch five refresh cycles: AuthorizationRequired must never appear. (Whether each refresh
	// lands before expiry is a matter of load, measured by make bench, not asserted here.)
	deadline := time.Now().Add(30 * time.Second)
	for srv.Stats().Refreshes < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d refreshes in 30s with a 2s token lifetime", srv.Stats().Refreshes)
		}
		cur = get(t, us)
		if needsLogin(cur, "") {
			t.Fatalf("AuthorizationRequired set during proactive refresh: %s", describe(cur))
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := srv.Stats()
	if st.RefreshReuseDetected != 0 || st.MaxConcurrentRefreshes > 1 {
		t.Fatalf("refresh tokens reused (%d) or refreshed concurrently (%d)", st.RefreshReuseDetected, st.MaxConcurrentRefreshes)
	}
	// The server counts a refresh before the controller has saved its answer: wait for the save.
	testenv.Eventually(t, 10*time.Second, "every refresh saved", func() bool {
		rec, err := h.Store.Load(upstream.StoreKey(cur))
		return err == nil && rec.RefreshCount >= int64(st.Refreshes)
	})
	if cur.Status.Token == nil || cur.Status.Token.LastRefreshTime == nil || cur.Status.Refresh == nil || cur.Status.Refresh.NextRefreshTime == nil {
		t.Fatalf("status does not show refresh times: %+v %+v", cur.Status.Token, cur.Status.Refresh)
	}
}

func TestRejectedRefreshTokenAsksForLoginAtOnceWithoutRetrying(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 3 * time.Second})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "rejected", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)

	// The first proactive refresh (about 2.2s after login) is rejected.
	srv.FailNextTokenRequests(1, oauthserver.Fault{Kind: oauthserver.FaultInvalidGrant})
	var cur *mcpv1alpha1.UpstreamServer
	testenv.Eventually(t, 20*time.Second, "RefreshTokenRejected", func() bool {
		cur = get(t, us)
		return needsLogin(cur, mcpv1alpha1.ReasonRefreshTokenRejected)
	})
	if cur.Status.Authorization == nil || cur.Status.Authorization.LoginCommand == "" {
		t.Fatal("no login command in status")
	}
	requests := srv.Stats().TokenRequests["refresh_token"]
	// The access token runs out; the controller must wait for a person, not retry.
	testenv.Eventually(t, 20*time.Second, "token expired and not Ready", func() bool {
		c := get(t, us)
		a := condition(c, mcpv1alpha1.ConditionAuthenticated)
		return !isReady(c) && a != nil && a.Status == metav1.ConditionFalse
	})
	// Pokes make the reconciler look again; wait until a reconcile that started after the
	// first one has completed, then nothing may have been retried.
	mark := h.ReconcileMark(us)
	for i := 0; i < 5; i++ {
		annotate(t, us, "test/poke", fmt.Sprint(i))
	}
	h.WaitReconciled(t, us, mark, 20*time.Second)
	if got := srv.Stats().TokenRequests["refresh_token"]; got != requests {
		t.Fatalf("the rejected refresh token was retried: %d refresh requests, was %d", got, requests)
	}
	// A new login lifts it.
	testenv.Login(t, srv, us)
	testenv.Eventually(t, 20*time.Second, "login clears RefreshTokenRejected", func() bool {
		c := get(t, us)
		return isReady(c) && !needsLogin(c, "")
	})
}

func TestTokenEndpointOutageBacksOffKeepsReadyWhileValidAndHeals(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 6 * time.Second})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createServer(t, ns, "outage", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)

	// Four 503s: attempts at about 4.5s, 5.5s, 7.5s and 11.5s after the login; the token
	// expires at 6s, so the server is Ready while backing off, then not, then heals.
	srv.FailNextTokenRequests(4, oauthserver.Fault{Kind: oauthserver.FaultUnavailable})
	sawBackoffWhileReady, sawNotReady, sawLoginAsked := false, false, false
	deadline := time.Now().Add(45 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("did not heal: backoffWhileReady=%t notReady=%t", sawBackoffWhileReady, sawNotReady)
		}
		cur := get(t, us)
		failing := cur.Status.Refresh != nil && cur.Status.Refresh.FailedAttempts > 0
		if failing && isReady(cur) {
			sawBackoffWhileReady = true
			if cur.Status.Refresh.NextRefreshTime == nil || cur.Status.Refresh.LastFailureReason == "" {
				t.Fatalf("backoff not visible in status: %+v", cur.Status.Refresh)
			}
		}
		if failing && !isReady(cur) {
			sawNotReady = true
			if c := condition(cur, mcpv1alpha1.ConditionAuthenticated); c.Reason != mcpv1alpha1.ReasonRefreshFailing {
				t.Fatalf("Authenticated reason = %s, want RefreshFailing", c.Reason)
			}
		}
		if needsLogin(cur, mcpv1alpha1.ReasonRefreshFailing) {
			sawLoginAsked = true
		}
		if sawNotReady && !failing && isReady(cur) && !needsLogin(cur, "") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawBackoffWhileReady {
		t.Fatal("never saw the server Ready while backing off with a valid token")
	}
	if !sawLoginAsked {
		t.Fatal("three failures with an expired token did not also ask for a login")
	}
	if st := srv.Stats(); st.RefreshReuseDetected != 0 {
		t.Fatalf("refresh token reused during the outage: %+v", st)
	}
}

func TestRapidRetriggersSpendEachRefreshTokenOnce(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 3 * time.Second, TokenDelay: 100 * time.Millisecond})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	us := createServer(t, ns, "hammered", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)

	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond) // spread over 5s: two due times
			patch := fmt.Sprintf(`{"metadata":{"annotations":{"test/bump":"%d"}}}`, i)
			_ = apiClient.Patch(context.Background(), get(t, us), rawMerge(patch))
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := srv.Stats()
	// One refresh per due time: a 3s token is refreshed about every 2.25s.
	maxRefreshes := int(elapsed/(2*time.Second)) + 1
	if st.Refreshes > maxRefreshes || st.Refreshes == 0 {
		t.Fatalf("%d refreshes in %s, want 1..%d", st.Refreshes, elapsed, maxRefreshes)
	}
	if st.RefreshReuseDetected != 0 || st.MaxConcurrentRefreshes > 1 {
		t.Fatalf("refresh token reused (%d) or spent concurrently (%d)", st.RefreshReuseDetected, st.MaxConcurrentRefreshes)
	}
	if !isReady(get(t, us)) {
		t.Fatal("not Ready after the hammering")
	}
}

func TestStatusIsWrittenOnlyWhenItChanges(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	h := startHarness(t, ns, "")
	us := createServer(t, ns, "quiet", srv.MCPURL())
	testenv.Login(t, srv, us)
	waitReady(t, us, 20*time.Second)
	// Let the post-login reconciles settle: once the hand-over is gone, a reconcile that
	// starts after a poke comes after every earlier one (they never overlap).
	testenv.Eventually(t, 10*time.Second, "hand-over gone", func() bool { return countHandOvers(t, ns) == 0 })
	mark := h.ReconcileMark(us)
	annotate(t, us, "test/settle", "1")
	h.WaitReconciled(t, us, mark, 10*time.Second)
	settled := h.StatusPatches()

	for i := 0; i < 20; i++ {
		annotate(t, us, "test/noise", fmt.Sprint(i))
	}
	// Wait until the manager has seen the last annotation: a forced no-op reconcile is not
	// observable, so poke with a refresh request whose handling is recorded in status.
	annotate(t, us, mcpv1alpha1.AnnotationRefreshRequestedAt, "marker")
	testenv.Eventually(t, 10*time.Second, "marker handled", func() bool {
		return get(t, us).Status.LastHandledRefreshRequest == "marker"
	})
	// 20 no-op reconciles wrote nothing; the requested refresh wrote once (maybe twice if its
	// status landed in two reconciles), never once per annotation.
	if got := h.StatusPatches() - settled; got > 2 {
		t.Fatalf("%d status patches for 20 no-op reconciles and one refresh", got)
	}
}
