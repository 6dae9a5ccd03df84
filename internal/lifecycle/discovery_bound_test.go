package lifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/attacker"
)

// realDiscovery is internal/oauth's discovery; the rest of the OAuth side is not used here.
type realDiscovery struct{ *rotatingAS }

func (realDiscovery) Discover(ctx context.Context, cfg oauth.Config) (*oauth.Discovery, error) {
	return oauth.Discover(ctx, cfg)
}

// Discovery against a server that accepts and never answers ends at the discovery bound, not
// after its requests' own timeouts one after another: a tarpit holds a worker for the bound.
func TestDiscoveryOfATarpitEndsAtTheBound(t *testing.T) {
	url, accepted := attacker.Tarpit(t)
	clk := clocktesting.NewFakeClock(time.Now())
	r := &Runner{Store: openStore(t), OAuth: realDiscovery{&rotatingAS{}}, Sessions: noSessions{}, Now: clk.Now,
		DiscoveryTimeout: 300 * time.Millisecond}
	f := &Facts{Now: clk.Now(), Key: testKey, Config: Config{OAuth: oauth.Config{ServerURL: url},
		SessionKey: "ns/srv", HealthInterval: time.Minute}}
	done := make(chan Result, 1)
	go func() { done <- r.Run(context.Background(), Pass{Facts: f, Owner: nopOwner{}, Log: logr.Discard()}) }()
	select {
	case res := <-done:
		if c := res.Status.Authenticated; c == nil || c.Reason != ReasonDiscoveryFailed {
			t.Fatalf("Authenticated = %+v, want DiscoveryFailed", c)
		}
		if accepted.Load() == 0 {
			t.Fatal("the tarpit was never reached: the test proves nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("discovery of a tarpit was still running after 10s with a 300ms bound")
	}
}
