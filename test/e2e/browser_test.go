package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// testBrowserRateLimit is bug 3, "browser rate limiting blocking logins": with --browser-login
// two servers needing a login each get the browser opened (the limit is per server) and log in
// through it; when one needs a login again within 5 minutes no second window opens; and
// `mcpproxy auth login` always proceeds inside that window.
func testBrowserRateLimit(t *testing.T) {
	start := time.Now()
	ns := newNamespace(t, "s3-browser")
	oa := startOAuth(t, "s3a", "-access-token-ttl=30s")
	ob := startOAuth(t, "s3b", "-access-token-ttl=30s")
	// The manager's browser logs the user in (it follows the authorization URL).
	mb := newBrowser(t, "s3-manager", true, 0)
	m := newManager(t, "s3", true, mb.env)
	m.start(t)
	createServer(t, ns, "alpha", oa.mcp, serverOpts{healthCheck: time.Second})
	createServer(t, ns, "beta", ob.mcp, serverOpts{healthCheck: time.Second})

	testenv.Eventually(t, 30*time.Second, "the browser opens for each server", func() (bool, string) {
		seen := map[string]bool{}
		for _, o := range mb.opens(t) {
			seen[o.Resource] = true
		}
		return seen[oa.mcp] && seen[ob.mcp], fmt.Sprintf("opens so far: %v", mb.opens(t))
	})
	twoServers := time.Since(start)
	for _, name := range []string{"alpha", "beta"} {
		waitServer(t, ns, name, "is Ready after the manager's browser login", 30*time.Second, isReady)
	}
	testenv.Eventually(t, 20*time.Second, "both browser logins are over", func() (bool, string) {
		return m.cur.CountLines("Handed a browser login over") == 2, "waiting"
	})

	cb := newBrowser(t, "s3-cli", true, 0)
	login := func(name, logName string) {
		t.Helper()
		code, out := runCLI(t, logName, cb.env, 90*time.Second, "auth", "login", name, "-n", ns, "--timeout=60s")
		if code != 0 {
			t.Fatalf("mcpproxy auth login %s exited %d:\n%s", name, code, out)
		}
	}

	// alpha needs a login again within 5 minutes: the provider revoked its grant.
	oa.admin(t, "/admin/revoke-all", nil)
	waitServer(t, ns, "alpha", "asks for a login again", 30*time.Second, needsLogin)
	testenv.Eventually(t, 20*time.Second, "the manager skips the browser for alpha (rate limit)", func() (bool, string) {
		return m.cur.CountLines("Skipped browser login", "Name:alpha ") > 0, "no rate-limit log line yet"
	})
	if n := len(mb.opens(t)); n != 2 {
		t.Errorf("the manager opened the browser %d times; want 2 (one per server, none for the repeated need)", n)
	}

	// A manual login proceeds inside the window; so does a forced one for beta, which is Ready.
	login("alpha", "s3-login-alpha")
	code, out := runCLI(t, "s3-login-beta", cb.env, 90*time.Second, "auth", "login", "beta", "-n", ns, "--timeout=60s", "--force")
	if code != 0 {
		t.Fatalf("mcpproxy auth login beta --force exited %d:\n%s", code, out)
	}
	for _, name := range []string{"alpha", "beta"} {
		waitServer(t, ns, name, "is Ready", 20*time.Second, isReady)
	}
	if n := len(cb.opens(t)); n != 2 {
		t.Errorf("the CLI opened the browser %d times for 2 logins", n)
	}
	if f := cb.followFailures(t); len(f) > 0 {
		t.Errorf("manual logins did not complete in the browser: %v", f)
	}
	m.stop()
	sa, sb := oa.stats(t), ob.stats(t)
	if sa.Authorizations != 2 || sb.Authorizations != 2 {
		t.Errorf("authorizations: alpha's server %d, beta's %d; want 2 and 2 (the manager's, then the manual one)", sa.Authorizations, sb.Authorizations)
	}
	if len(mb.opens(t)) != 2 {
		t.Errorf("the manager opened the browser %d times in all; want 2", len(mb.opens(t)))
	}
	addSummary(summaryRow{scenario: "3 browser rate limit", duration: time.Since(start), refreshes: sa.Refreshes + sb.Refreshes,
		reuses: fmt.Sprintf("%d/%d", sa.RefreshReuseDetected+sb.RefreshReuseDetected, sa.RefreshReuseWithinGrace+sb.RefreshReuseWithinGrace),
		logins: sa.Authorizations + sb.Authorizations,
		notes: fmt.Sprintf("manager opens %d (2 servers in %s), repeated need: skipped; manual logins %d/2 proceeded",
			len(mb.opens(t)), twoServers.Round(100*time.Millisecond), len(cb.opens(t)))})
}
