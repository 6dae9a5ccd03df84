package e2e

import (
	"fmt"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// testExpiredTokenRefreshed is bug 1, "expired token not refreshed on reconnection": after one
// login the server stays Ready for ten 3-second token lifetimes, every refresh done by the
// controller from its persisted refresh token, MCP traffic always carrying a valid token; then
// the controller is stopped until the access token has expired and restarted: it refreshes
// from the store before connecting, and nobody is asked to log in.
func testExpiredTokenRefreshed(t *testing.T) {
	start := time.Now()
	// refreshBefore leaves 1s between the planned refresh and the earliest moment the test
	// server's whole-second exp can end a token, so a loaded machine does not race it.
	const ttl, before = 3 * time.Second, 2 * time.Second
	const name = "linear"
	ns := newNamespace(t, "s1-expired")
	o := startOAuth(t, "s1", "-access-token-ttl=3s")
	hist := watchHistory(t, ns)
	m := newManager(t, "s1", false, nil)
	m.start(t)
	createServer(t, ns, name, o.mcp, serverOpts{refreshBefore: before, healthCheck: time.Second})
	waitServer(t, ns, name, "asks for a login", 30*time.Second, needsLogin)

	// A person logs in once, with the real CLI and a headless browser.
	br := newBrowser(t, "s1-cli", true, 0)
	code, out := runCLI(t, "s1-login", br.env, 90*time.Second, "auth", "login", name, "-n", ns, "--timeout=60s")
	if code != 0 {
		t.Fatalf("mcpproxy auth login exited %d:\n%s", code, out)
	}
	waitServer(t, ns, name, "is Ready after the login", 10*time.Second, isReady)
	loggedIn := time.Now()
	base := o.stats(t)

	// Ten token lifetimes with nobody logging in, a workload calling echo through the gateway
	// about every half second.
	const window = 10 * ttl
	gw := newGatewayClient(m, ns, name)
	for i := 0; time.Since(loggedIn) < window; i++ {
		m.checkAlive(t)
		if us := getServer(t, ns, name); !isReady(us) {
			t.Fatalf("%s left Ready %s after the login: %s", name, time.Since(loggedIn).Round(time.Millisecond), describe(us))
		}
		if err := gw.echo(fmt.Sprintf("call %d", i)); err != nil {
			t.Errorf("echo %d through the gateway, %s after the login: %v", i, time.Since(loggedIn).Round(time.Millisecond), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	gw.close()
	echoes := gw.ok
	elapsed := time.Since(loggedIn)
	st := o.stats(t)
	refreshes := st.Refreshes - base.Refreshes
	// Each token lives at most ttl, and refreshes are at least ttl-refreshBefore-jitter apart.
	minR, maxR := int(elapsed/ttl), int(elapsed/(ttl-before-before/10))+1
	if refreshes < minR || refreshes > maxR {
		t.Errorf("%d refreshes in %s; want one per due time, %d..%d", refreshes, elapsed.Round(time.Second), minR, maxR)
	}
	if valid := st.MCPValidToken - base.MCPValidToken; valid < int(elapsed/time.Second)/2 {
		t.Errorf("only %d MCP requests with a valid token in %s; the session should keep answering (health check every 1s)", valid, elapsed.Round(time.Second))
	}
	if bad := hist.notReadySince(loggedIn.Add(500 * time.Millisecond)); len(bad) > 0 {
		t.Errorf("a status write said not Ready during the window: %v", bad)
	}

	// Stop the controller until the stored access token has expired, then start it again.
	m.stop()
	stoppedAt := time.Now()
	us := getServer(t, ns, name)
	rec := m.record(t, us)
	if rec == nil || rec.RefreshToken == "" {
		t.Fatal("no persisted refresh token after the window")
	}
	stopped := o.stats(t)
	if rec.RefreshCount != int64(stopped.Refreshes) {
		t.Errorf("the store counts %d refreshes, the OAuth server %d: a refresh was not done or not saved by the controller",
			rec.RefreshCount, stopped.Refreshes)
	}
	testenv.Eventually(t, 3*ttl, "the controller was down longer than a token lifetime and the stored token expired", func() (bool, string) {
		return time.Since(stoppedAt) > ttl+500*time.Millisecond && time.Now().After(rec.Expiry.Add(500*time.Millisecond)),
			"expiry " + rec.Expiry.String()
	})
	downFor := time.Since(stoppedAt)
	restarted := time.Now()
	m.start(t)
	waitServer(t, ns, name, "is Ready with a token refreshed by the restarted controller", 30*time.Second,
		func(us *mcpv1alpha1.UpstreamServer) bool {
			tok := us.Status.Token
			return isReady(us) && tok != nil && tok.LastRefreshTime != nil && !tok.LastRefreshTime.Time.Before(restarted.Truncate(time.Second))
		})
	readyAfter := time.Since(restarted)
	gw = newGatewayClient(m, ns, name)
	if err := gw.echo("after the restart"); err != nil {
		t.Errorf("echo through the gateway after the restart: %v", err)
	}
	gw.close()
	m.stop()
	final := o.stats(t)
	if final.Refreshes <= stopped.Refreshes {
		t.Error("the restarted controller did not refresh")
	}
	if final.Authorizations != 1 {
		t.Errorf("%d authorizations; want exactly the one login", final.Authorizations)
	}
	if st.MCPExpiredToken != 0 || st.MCPInvalidToken != 0 {
		t.Errorf("during the window, MCP requests with an expired (%d) or invalid (%d) token; want none", st.MCPExpiredToken, st.MCPInvalidToken)
	}
	if n := final.MCPExpiredToken - stopped.MCPExpiredToken; n != 0 {
		who := "the controller"
		if m.cur.CountLines("Asked the controller to refresh a token the upstream rejected") > 0 {
			who = "the gateway (it then asked the controller for a refresh)"
		}
		t.Errorf("after the restart, %d MCP requests carried the expired stored token upstream, sent by %s; want none: refresh first", n, who)
	}
	if final.RefreshReuseDetected != 0 || final.RefreshReuseWithinGrace != 0 {
		t.Errorf("refresh token reuse: %d detected, %d within grace", final.RefreshReuseDetected, final.RefreshReuseWithinGrace)
	}
	if ar := hist.authRequiredSince(loggedIn); len(ar) > 0 {
		t.Errorf("AuthorizationRequired was set after the login: %v", ar)
	}
	if rec := m.record(t, us); rec == nil || rec.RefreshCount != int64(final.Refreshes) {
		t.Errorf("the stored refresh count is not the OAuth server's %d", final.Refreshes)
	}
	t.Logf("%d refreshes in %s (%d..%d allowed), %d valid MCP requests (%d echo calls through the gateway), %d expired in all; down %s, Ready %s after restart",
		refreshes, elapsed.Round(time.Second), minR, maxR, st.MCPValidToken-base.MCPValidToken, echoes, final.MCPExpiredToken,
		downFor.Round(100*time.Millisecond), readyAfter.Round(100*time.Millisecond))
	addSummary(summaryRow{scenario: "1 expired token refreshed", duration: time.Since(start), refreshes: final.Refreshes,
		reuses: fmt.Sprintf("%d/%d", final.RefreshReuseDetected, final.RefreshReuseWithinGrace), logins: final.Authorizations,
		notes: fmt.Sprintf("%d valid MCP reqs (echo via gateway %d ok), %d expired; restart after expiry: Ready in %s",
			final.MCPValidToken, echoes, final.MCPExpiredToken, readyAfter.Round(100*time.Millisecond))})
}
