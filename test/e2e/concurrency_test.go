package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// trigger kinds of the hammer.
const (
	bump          = "annotation bump"
	badHandOver   = "rejected hand-over Secret"
	refreshAsk    = "refresh request (same value)"
	sessionDrop   = "dropped MCP session"
	fixedRefreshT = "2026-11-26T00:00:00Z"
)

// testConcurrentTriggers is bug 2, "concurrent flows corrupting state": 50 concurrent triggers
// while the manager's own browser login (--browser-login) runs, then 50 more spread over the
// refreshes (annotation bumps, rejected hand-over Secrets, dropped sessions, one repeated
// refresh request) with a graceful controller restart while a refresh is in flight. The OAuth
// server must see one authorization flow, one refresh per due time (plus the one requested),
// never two refreshes of the grant at once, and no refresh token reuse (no grace configured:
// a reuse would revoke the grant).
func testConcurrentTriggers(t *testing.T) {
	start := time.Now()
	const ttl, before = 4 * time.Second, 1500 * time.Millisecond
	const name = "github"
	ns := newNamespace(t, "s2-concurrent")
	o := startOAuth(t, "s2", "-access-token-ttl=4s", "-token-delay=200ms")
	hist := watchHistory(t, ns)
	br := newBrowser(t, "s2-manager", true, 3*time.Second)
	m := newManager(t, "s2", true, br.env)
	m.start(t)
	createServer(t, ns, name, o.mcp, serverOpts{refreshBefore: before, healthCheck: time.Second})

	// Phase A: the browser is open (the user takes 3s to approve) while 50 triggers land.
	testenv.Eventually(t, 30*time.Second, "the manager opens the browser", func() (bool, string) {
		return len(br.opens(t)) > 0, "no open recorded"
	})
	us := getServer(t, ns, name)
	var kinds []string
	for i := range 50 {
		kinds = append(kinds, []string{bump, badHandOver}[i%2])
	}
	hammer(t, o, us, kinds, 0, nil)
	waitServer(t, ns, name, "is Ready after the browser login", 60*time.Second, isReady)
	loggedIn := time.Now()
	if n := len(br.opens(t)); n != 1 {
		t.Errorf("the browser was opened %d times for one login; want 1", n)
	}
	if st := o.stats(t); st.Authorizations != 1 {
		t.Errorf("%d authorization flows completed for one server; want 1", st.Authorizations)
	}

	// Phase B: 50 triggers spread over 20s, and a graceful restart while a refresh is in flight.
	b0, tB := o.stats(t), time.Now()
	kinds = kinds[:0]
	for i := range 50 {
		kinds = append(kinds, []string{bump, bump, bump, bump, badHandOver, badHandOver, badHandOver, badHandOver, refreshAsk, sessionDrop}[i%10])
	}
	var wg sync.WaitGroup
	var fired atomic.Int32
	wg.Go(func() { hammer(t, o, us, kinds, 400*time.Millisecond, &fired) })
	// Restart once the hammer is well under way (20 of 50 triggers, about 8s in), so triggers
	// land before, during and after the restart.
	testenv.Eventually(t, 30*time.Second, "20 of the 50 triggers fired", func() (bool, string) {
		return fired.Load() >= 20, fmt.Sprintf("%d fired", fired.Load())
	})
	restartDuringRefresh(t, o, m)
	wg.Wait()
	waitServer(t, ns, name, "is Ready after the hammer", 30*time.Second, isReady)
	tE, e0 := time.Now(), o.stats(t)
	m.stop()

	w := tE.Sub(tB)
	refreshes := e0.Refreshes - b0.Refreshes
	// One refresh per due time: due times are at least ttl-before-jitter apart; the repeated
	// refresh request adds exactly one. Tokens live ttl, so fewer than w/ttl-1 would mean gaps.
	minR, maxR := int(w/ttl)-1, int(w/(ttl-before-before/10))+1+1
	if refreshes < minR || refreshes > maxR {
		t.Errorf("%d refreshes in %s; want one per due time plus the requested one: %d..%d", refreshes, w.Round(time.Second), minR, maxR)
	}
	if e0.MaxConcurrentRefreshes > 1 {
		t.Errorf("the OAuth server saw %d refreshes of the grant at once; want 1", e0.MaxConcurrentRefreshes)
	}
	if e0.RefreshReuseDetected != 0 || e0.RefreshReuseWithinGrace != 0 {
		t.Errorf("refresh token reuse: %d detected, %d within grace; want none", e0.RefreshReuseDetected, e0.RefreshReuseWithinGrace)
	}
	if e0.Authorizations != 1 || len(br.opens(t)) != 1 {
		t.Errorf("%d authorizations and %d browser opens in all; want 1 and 1", e0.Authorizations, len(br.opens(t)))
	}
	if ar := hist.authRequiredSince(loggedIn); len(ar) > 0 {
		t.Errorf("AuthorizationRequired was set after the login: %v", ar)
	}
	if f := br.followFailures(t); len(f) > 0 {
		t.Errorf("browser logins did not complete: %v", f)
	}
	if rec := m.record(t, us); rec == nil || rec.RefreshCount != int64(e0.Refreshes) {
		got := int64(-1)
		if rec != nil {
			got = rec.RefreshCount
		}
		t.Errorf("the store counts %d refreshes, the OAuth server %d: a refresh the server answered was not saved", got, e0.Refreshes)
	}
	if us := getServer(t, ns, name); us.Status.LastHandledRefreshRequest != fixedRefreshT {
		t.Errorf("the refresh request was not handled: %q", us.Status.LastHandledRefreshRequest)
	}
	t.Logf("phase B: %d refreshes in %s (%d..%d allowed), max %d in flight, %d token faults", refreshes, w.Round(time.Second), minR, maxR,
		e0.MaxConcurrentRefreshes, e0.TokenFaultsInjected)
	addSummary(summaryRow{scenario: "2 concurrent triggers", duration: time.Since(start), refreshes: e0.Refreshes,
		reuses: fmt.Sprintf("%d/%d", e0.RefreshReuseDetected, e0.RefreshReuseWithinGrace), logins: e0.Authorizations,
		notes: fmt.Sprintf("100 triggers + restart mid-refresh; %d browser open; max %d refresh in flight; %d in %s (%d..%d)",
			len(br.opens(t)), e0.MaxConcurrentRefreshes, refreshes, w.Round(time.Second), minR, maxR)})
}

// hammer fires the triggers, each in its own goroutine, spaced by gap (0: all at once),
// counting in fired (when set) every trigger sent.
func hammer(t *testing.T, o *oauthProc, us *mcpv1alpha1.UpstreamServer, kinds []string, gap time.Duration, fired *atomic.Int32) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(kinds))
	for i, k := range kinds {
		if gap > 0 {
			time.Sleep(gap)
		}
		wg.Go(func() {
			var err error
			switch k {
			case bump:
				err = annotate(ctx, us.Namespace, us.Name, map[string]string{"e2e.mcpproxy.dev/bump": strconv.Itoa(i)})
			case badHandOver:
				err = bogusHandOver(ctx, us, i)
			case refreshAsk:
				err = annotate(ctx, us.Namespace, us.Name, map[string]string{mcpv1alpha1.AnnotationRefreshRequestedAt: fixedRefreshT})
			case sessionDrop:
				_, err = adminClient.PostForm(o.base+"/admin/mcp-outage", url.Values{"mode": {"drop"}, "for": {"300ms"}})
			}
			if err != nil {
				errs <- fmt.Errorf("%s %d: %w", k, i, err)
			}
			if fired != nil {
				fired.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// restartDuringRefresh slows the next token answer by 2s, waits until the controller's refresh
// is in flight, and restarts the controller gracefully (SIGTERM) at that moment.
func restartDuringRefresh(t *testing.T, o *oauthProc, m *manager) {
	t.Helper()
	o.admin(t, "/admin/fail-token", url.Values{"n": {"1"}, "fault": {"slow"}, "delay": {"2s"}})
	before := o.stats(t).TokenFaultsInjected
	testenv.Eventually(t, 15*time.Second, "a refresh is in flight", func() (bool, string) {
		return o.stats(t).TokenFaultsInjected > before, "no token request yet"
	})
	time.Sleep(300 * time.Millisecond)
	m.stop()
	m.start(t)
}
