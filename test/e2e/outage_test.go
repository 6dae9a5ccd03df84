package e2e

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// testAuthServerOutage: the token endpoint answers 503 for 30 seconds, across the expiry of
// every server's 8-second token (a pre-registered confidential client this time). The servers back off (failed attempts and next try visible in
// status, growing gaps, no hot loop), stay Ready while their token lasts, go not-Ready once it
// expired, and come back by themselves when the endpoint answers again: no login.
func testAuthServerOutage(t *testing.T) {
	start := time.Now()
	const servers, outage = 3, 30 * time.Second
	ns := newNamespace(t, "s5-outage")
	// A pre-registered confidential client: its secret is one more thing that must not leak.
	secret := "cs_" + rand.Text()
	o := startOAuth(t, "s5", "-access-token-ttl=8s", "-client", "e2e-confidential:"+secret)
	hist := watchHistory(t, ns)
	f := newFleet(t, ns, "s5", o, servers, serverOpts{healthCheck: time.Second, clientID: "e2e-confidential", clientSecret: secret})
	m := newManager(t, "s5", false, nil)
	m.start(t)
	f.waitAll(t, "Ready under a manager without --browser-login", 30*time.Second, isReady)
	st0 := o.stats(t)

	// More scripted 503s than can be asked for in 30s; the rest is drained when the outage ends.
	o.admin(t, "/admin/fail-token", url.Values{"n": {"10000"}, "fault": {"503"}})
	t0 := time.Now()
	for time.Since(t0) < outage {
		m.checkAlive(t)
		time.Sleep(250 * time.Millisecond)
	}
	drained := o.drainTokenFaults(t)
	t1 := time.Now()
	f.waitAll(t, "Ready again by itself", 90*time.Second, func(us *mcpv1alpha1.UpstreamServer) bool {
		return isReady(us) && !needsLogin(us) && us.Status.Refresh != nil && us.Status.Refresh.FailedAttempts == 0
	})
	recovered := time.Since(t1)
	m.stop()
	st := o.stats(t)
	served503 := st.TokenFaultsInjected - st0.TokenFaultsInjected - drained

	obs := hist.since(t0)
	var notes []string
	maxAttempts := int32(0)
	for _, name := range f.names {
		var failed int32
		readyWhileFailing, notReady := false, ""
		nextTimes := map[time.Time]bool{}
		for _, ob := range obs {
			if ob.name != name {
				continue
			}
			failed = max(failed, ob.failed)
			if ob.failed > 0 && ob.ready == metav1.ConditionTrue {
				readyWhileFailing = true
			}
			if ob.failed > 0 && ob.ready != metav1.ConditionTrue && notReady == "" {
				notReady = ob.readyReason
			}
			if ob.failed > 0 && !ob.nextRefresh.IsZero() {
				nextTimes[ob.nextRefresh] = true
			}
		}
		maxAttempts = max(maxAttempts, failed)
		switch {
		case failed < 3:
			t.Errorf("%s: at most %d failed attempts in status during a 30s outage; want the backoff visible", name, failed)
		case failed > 8:
			t.Errorf("%s: %d failed attempts in 30s: no backoff (1s doubling would make about 6)", name, failed)
		case !readyWhileFailing:
			t.Errorf("%s: never Ready while failing: a valid token should keep it Ready", name)
		case notReady == "":
			t.Errorf("%s: never left Ready although its token expired during the outage", name)
		case len(nextTimes) < 2:
			t.Errorf("%s: status.refresh.nextRefreshTime showed %d retry times", name, len(nextTimes))
		}
		notes = append(notes, fmt.Sprintf("%s: %d attempts, not Ready (%s)", name, failed, notReady))
	}
	sort.Strings(notes)
	if served503 > servers*8 {
		t.Errorf("%d refresh requests answered 503 for %d servers in 30s: no backoff", served503, servers)
	}
	if st.Authorizations != st0.Authorizations {
		t.Errorf("%d logins during the outage; want none", st.Authorizations-st0.Authorizations)
	}
	if st.RefreshReuseDetected != 0 {
		t.Errorf("%d refresh token reuses detected", st.RefreshReuseDetected)
	}
	asked := hist.authRequiredSince(t0)
	t.Logf("%s; %d requests answered 503; AuthorizationRequired meanwhile: %v; all Ready %s after the outage",
		strings.Join(notes, "; "), served503, asked, recovered.Round(100*time.Millisecond))
	addSummary(summaryRow{scenario: "5 token endpoint 503 for 30s", duration: time.Since(start), refreshes: st.Refreshes,
		reuses: fmt.Sprintf("%d/%d", st.RefreshReuseDetected, st.RefreshReuseWithinGrace), logins: st.Authorizations,
		notes: fmt.Sprintf("%d servers, %d 503s (max %d attempts each), not Ready after expiry, Ready %s after the outage, no login",
			servers, served503, maxAttempts, recovered.Round(100*time.Millisecond))})
}
