package controllers_test

import (
	"strings"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/attacker"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// One server answering initialize with 1 GiB costs the manager a bounded read, not its
// memory: the heap stays under 256 MiB, the server says which bound it crossed, and the other
// servers keep refreshing meanwhile.
func TestHugeAnswerLeavesTheManagerAndOtherServersUnharmed(t *testing.T) {
	const maxHeap = 256 << 20
	stop := make(chan struct{})
	// Samples the heap of this process, where the manager runs; past the bound it stops the
	// huge server feeding an unbounded reader before the machine runs out.
	peak, stopWatch := attacker.WatchHeap(maxHeap, stop)
	t.Cleanup(stopWatch)

	a := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	b := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: 2 * time.Second})
	ns := newNamespace(t)
	startHarness(t, ns, "")
	hs := attacker.NewHuge(t, false, stop)
	huge := createServer(t, ns, "huge", hs.URL+"/mcp")
	servers := []*mcpv1alpha1.UpstreamServer{createServer(t, ns, "alpha", a.MCPURL()), createServer(t, ns, "beta", b.MCPURL())}
	testenv.Login(t, a, servers[0])
	testenv.Login(t, b, servers[1])
	for _, us := range servers {
		waitReady(t, us, 30*time.Second)
	}
	testenv.Eventually(t, 60*time.Second, "the huge server's bound named", func() (bool, string) {
		cur := get(t, huge)
		c := condition(cur, mcpv1alpha1.ConditionConnected)
		return c != nil && c.Reason == mcpv1alpha1.ReasonLimitExceeded && strings.Contains(c.Message, "response body"), describe(cur)
	})

	// The others refresh on plan while the huge server is dialled again and again.
	a0, b0, n0 := a.Stats().Refreshes, b.Stats().Refreshes, hs.Answers.Load()
	testenv.Eventually(t, 30*time.Second, "two more refreshes of each other server", func() bool {
		return a.Stats().Refreshes-a0 >= 2 && b.Stats().Refreshes-b0 >= 2
	})
	for _, us := range servers {
		if cur := get(t, us); !isReady(cur) || needsLogin(cur, "") {
			t.Fatalf("%s is not Ready: %s", us.Name, describe(cur))
		}
	}
	if p := peak(); p > maxHeap {
		t.Fatalf("the heap peaked at %d MiB (bound %d MiB): the huge answer was read unbounded", p>>20, maxHeap>>20)
	}
	t.Logf("heap peak %d MiB; the huge server answered %d times during the refreshes", peak()>>20, hs.Answers.Load()-n0)
}
