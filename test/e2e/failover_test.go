package e2e

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
)

// The lease of the failover scenario: short, so ten failovers fit in CI. A token lives longer
// than the gap a dead leader leaves (lease + retry + one reconcile), and refreshBefore is
// longer than that gap, so a gateway never holds an expired token while nobody leads.
const (
	failoverLease   = 6 * time.Second
	failoverRenew   = 4 * time.Second
	failoverRetry   = 1 * time.Second
	failoverTokens  = 15 * time.Second
	failoverRefresh = 10 * time.Second
	// oneReconcile bounds a reconcile of the new leader after it took the lease (its caches
	// sync first), on this 2-core machine under the scenario's load.
	oneReconcile = 5 * time.Second
)

const becameLeader = "Became the leader"

// testLeaderFailover: three manager processes with leader election on the Secrets store share
// a fleet whose tokens rotate every few seconds. The leader is SIGKILLed during rotations ten
// times (and started again as a follower), while a client calls tools continuously through
// the replicas' gateways, retrying a failed call once on another replica. Afterwards: no
// refresh token was replayed outside the OAuth server's grace, nobody was asked to log in,
// each new leader refreshed within the lease duration plus one reconcile, and no call failed
// twice.
func testLeaderFailover(t *testing.T) {
	start := time.Now()
	const servers, kills, replicas = 8, 10, 3
	ns, storeNS := newNamespace(t, "s7-failover"), newNamespace(t, "s7-tokens")
	keyFile := storetest.KeyFile(t, 1)
	// The grace forgives a replay of a refresh token whose rotation a SIGKILL lost (sent, not
	// saved), as in scenario 4; replays outside it are the failure signal.
	o := startOAuth(t, "s7", "-access-token-ttl="+failoverTokens.String(), "-refresh-reuse-grace=5s")
	hist := watchHistory(t, ns)
	br := newBrowser(t, "s7-login", true, 0)
	login := newManager(t, "s7-login", true, br.env)
	login.onSecrets(ns, storeNS, keyFile)
	f := loginFleet(t, ns, login, o, servers, serverOpts{refreshBefore: failoverRefresh, healthCheck: 2 * time.Second})
	loggedIn := time.Now()
	st0 := o.stats(t)

	reps := make([]*manager, replicas)
	for i := range reps {
		reps[i] = newManager(t, fmt.Sprintf("s7-replica-%d", i), false, nil)
		reps[i].onSecrets(ns, storeNS, keyFile)
		reps[i].args = append(reps[i].args, "--leader-elect", "--leader-election-namespace="+ns,
			"--leader-election-lease-duration="+failoverLease.String(), "--leader-election-renew-deadline="+failoverRenew.String(),
			"--leader-election-retry-period="+failoverRetry.String())
		reps[i].start(t)
	}
	leader := waitLeader(t, reps, nil, 30*time.Second)

	calls := startHAClient(reps, ns, f.names)
	defer calls.stop()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	var takeovers []time.Duration
	for k := range kills {
		// A random moment within the rotations: the fleet refreshes every second or so.
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		old := leader
		old.checkAlive(t)
		killedAt := time.Now()
		old.kill()
		leader = waitLeader(t, reps, old, failoverLease+failoverRetry+oneReconcile)
		refreshed := waitFirstRefresh(t, leader, killedAt, failoverLease+failoverRetry+oneReconcile)
		takeovers = append(takeovers, refreshed.Sub(killedAt))
		t.Logf("failover %d: %s killed, %s refreshed %s later", k+1, old.name, leader.name, refreshed.Sub(killedAt).Round(10*time.Millisecond))
		old.start(t) // back as a follower
	}
	calls.stop()
	st := o.stats(t)

	checkNothingLost(t, "the failovers", st0, st, hist, loggedIn)
	total, retried, failed := calls.counts()
	if failed != 0 {
		t.Errorf("%d of %d gateway calls failed on two replicas (last: %v); want 0", failed, total, calls.lastError())
	}
	if total < kills*10 {
		t.Errorf("only %d gateway calls during %d failovers: the client did not call continuously", total, kills)
	}
	f.waitAll(t, "Ready after the failovers", 60*time.Second, isReady)
	for _, r := range reps {
		r.stop()
	}
	t.Logf("%d failovers (E2E seed %d): first refresh of the new leader after %v; %d gateway calls, %d retried on another replica, %d failed; %d refreshes, %d replays within grace",
		kills, seed, takeovers, total, retried, failed, st.Refreshes-st0.Refreshes, st.RefreshReuseWithinGrace)
	addSummary(summaryRow{scenario: "7 leader failover (3 replicas)", duration: time.Since(start), refreshes: st.Refreshes,
		reuses: fmt.Sprintf("%d/%d", st.RefreshReuseDetected, st.RefreshReuseWithinGrace), logins: st.Authorizations,
		notes: fmt.Sprintf("%d servers, %d leader SIGKILLs, new leader refreshing after %s at most; %d calls, %d retried, %d failed",
			servers, kills, maxDuration(takeovers).Round(100*time.Millisecond), total, retried, failed)})
}

// waitLeader waits until one running replica other than old logged that it leads, and
// returns it. A replica's log is its own process's, so a restarted one starts unelected.
func waitLeader(t *testing.T, reps []*manager, old *manager, d time.Duration) *manager {
	t.Helper()
	var leader *manager
	testenv.Eventually(t, d, "a new leader", func() (bool, string) {
		var elected []string
		for _, r := range reps {
			if r != old && !r.cur.Exited() && r.cur.CountLines(becameLeader) > 0 {
				leader = r
				elected = append(elected, r.name)
			}
		}
		if len(elected) > 1 {
			t.Fatalf("two replicas lead at once: %v", elected)
		}
		return leader != nil, "no replica logged " + becameLeader
	})
	return leader
}

// waitFirstRefresh waits until the leader's log shows a refresh, and returns when it was seen
// (polled every 50ms, so at most that late).
func waitFirstRefresh(t *testing.T, leader *manager, since time.Time, d time.Duration) time.Time {
	t.Helper()
	var at time.Time
	testenv.Eventually(t, d-time.Since(since), leader.name+" refreshes a token", func() bool {
		if leader.cur.CountLines("Refreshed token") > 0 {
			at = time.Now()
			return true
		}
		return false
	})
	return at
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// haClient calls echo on the fleet's servers through the replicas' gateways without pause,
// round robin, as a workload behind a Service would; a failed call is retried once on the
// next replica. It does not know which replica died.
type haClient struct {
	mu                     sync.Mutex
	total, retried, failed int
	last                   error
	done                   chan struct{}
	stopped                atomic.Bool
	once                   sync.Once
}

func startHAClient(reps []*manager, ns string, servers []string) *haClient {
	c := &haClient{done: make(chan struct{})}
	clients := make([][]*gatewayClient, len(reps))
	for i, r := range reps {
		for _, s := range servers {
			clients[i] = append(clients[i], newGatewayClient(r, ns, s))
		}
	}
	go func() {
		defer close(c.done)
		defer func() {
			for _, cs := range clients {
				for _, g := range cs {
					g.close()
				}
			}
		}()
		for n := 0; !c.stopped.Load(); n++ {
			rep, srv := n%len(reps), (n/len(reps))%len(servers)
			text := fmt.Sprintf("call-%d", n)
			err := clients[rep][srv].echo(text)
			retried := err != nil
			if retried {
				err = clients[(rep+1)%len(reps)][srv].echo(text)
			}
			c.record(retried, err)
		}
	}()
	return c
}

func (c *haClient) record(retried bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	if retried {
		c.retried++
	}
	if err != nil {
		c.failed++
		c.last = err
	}
}

func (c *haClient) stop() {
	c.once.Do(func() {
		c.stopped.Store(true)
		<-c.done
	})
}

func (c *haClient) counts() (total, retried, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.retried, c.failed
}

func (c *haClient) lastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
