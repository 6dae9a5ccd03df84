package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// testCrashSafety: 20 servers refresh about every second (3s tokens, refreshBefore 1.8s) with
// rotation and reuse detection on, while the controller is SIGKILLed at random moments 20
// times and restarted. Afterwards every server is Ready, nobody logged in, and the OAuth server
// detected no reuse.
//
// A kill after a refresh was sent but before its answer was saved loses the rotated refresh
// token: the restarted controller can only replay the old one. Real providers forgive that
// within a reuse grace ("leeway", Hydra and Auth0 style), so the OAuth server runs with
// -refresh-reuse-grace=5s; replays inside it are counted and reported (they show how often a
// kill hit that window), replays outside it are the failure signal.
func testCrashSafety(t *testing.T) {
	start := time.Now()
	const servers, kills = 20, 20
	ns := newNamespace(t, "s4-crash")
	o := startOAuth(t, "s4", "-access-token-ttl=3s", "-refresh-reuse-grace=5s")
	hist := watchHistory(t, ns)
	f := newFleet(t, ns, "s4", o, servers, serverOpts{refreshBefore: 1800 * time.Millisecond, healthCheck: 2 * time.Second})
	loggedIn := time.Now()
	st0 := o.stats(t)

	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("E2E_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("kill moments seeded with E2E_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	m := newManager(t, "s4", false, nil)
	var uptimes []time.Duration
	for range kills {
		m.start(t)
		up := 300*time.Millisecond + time.Duration(rng.Int64N(int64(2700*time.Millisecond)))
		time.Sleep(up) // the random moment of the crash is the point here, not a wait for a state
		m.checkAlive(t)
		m.kill()
		uptimes = append(uptimes, up)
	}
	killedAt := time.Now()
	stK := o.stats(t)
	m.start(t)
	f.waitAll(t, "Ready again after the last crash", 60*time.Second, func(us *mcpv1alpha1.UpstreamServer) bool {
		tok := us.Status.Token
		return isReady(us) && tok != nil && tok.LastRefreshTime != nil && tok.LastRefreshTime.After(killedAt)
	})
	recovered := time.Since(killedAt)
	m.stop()
	st := o.stats(t)

	checkNothingLost(t, "the crashes", st0, st, hist, loggedIn)
	var counted int64
	for _, us := range f.list(t) {
		rec := m.record(t, us)
		if rec == nil || rec.RefreshToken == "" {
			t.Errorf("%s has no stored refresh token", us.Name)
			continue
		}
		counted += rec.RefreshCount
	}
	// Refreshes the OAuth server answered but no store recorded: answers lost to a crash.
	lost := int64(st.Refreshes) - counted
	if lost < 0 || lost > int64(st.RefreshReuseWithinGrace) {
		t.Errorf("the OAuth server answered %d refreshes, the store counts %d: %d answers lost but %d replays within grace",
			st.Refreshes, counted, lost, st.RefreshReuseWithinGrace)
	}
	during := stK.Refreshes - st0.Refreshes
	t.Logf("%d kills (uptimes %v), %d refreshes during them, %d answers lost to kills, %d replays within grace, 0 outside; all Ready %s after the last restart",
		kills, uptimes, during, lost, st.RefreshReuseWithinGrace, recovered.Round(100*time.Millisecond))
	addSummary(summaryRow{scenario: "4 crash safety (grace 5s)", duration: time.Since(start), refreshes: st.Refreshes,
		reuses: fmt.Sprintf("%d/%d", st.RefreshReuseDetected, st.RefreshReuseWithinGrace), logins: st.Authorizations,
		notes: fmt.Sprintf("%d servers, %d SIGKILLs, %d refreshes during them, %d answers lost to kills; Ready %s after",
			servers, kills, during, lost, recovered.Round(100*time.Millisecond))})
}

// checkNothingLost fails the test if, during what (between the stats st0 and st, and since
// loggedIn in hist), a refresh token was replayed outside the OAuth server's grace (a grant
// lost), someone had to log in, or a server asked for a login.
func checkNothingLost(t *testing.T, what string, st0, st oauthserver.Stats, hist *history, loggedIn time.Time) {
	t.Helper()
	if st.RefreshReuseDetected != 0 {
		t.Errorf("the OAuth server detected %d refresh token reuses outside the grace during %s: a refresh token was spent twice", st.RefreshReuseDetected, what)
	}
	if st.Authorizations != st0.Authorizations {
		t.Errorf("%d logins during %s; want none", st.Authorizations-st0.Authorizations, what)
	}
	if ar := hist.authRequiredSince(loggedIn); len(ar) > 0 {
		t.Errorf("AuthorizationRequired was set during %s: %v", what, ar)
	}
}
