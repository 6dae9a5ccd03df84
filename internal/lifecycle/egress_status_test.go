package lifecycle

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// A destination the egress policy refuses becomes a condition that names the address and the
// flag that allows it, and no connection reaches it. The mechanism is proven on loopback:
// 127.0.0.2 is denied, and a listener there counts what reaches it.
func TestDeniedDestinationSetsEgressDeniedAndNothingConnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	policy, err := netguard.NewPolicy([]string{"127.0.0.2/32"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: netguard.NewTransport(policy, netguard.TransportOptions{}), Timeout: 5 * time.Second}
	clk := clocktesting.NewFakeClock(time.Now())
	r := &Runner{Store: openStore(t), OAuth: realDiscovery{&rotatingAS{}}, Sessions: noSessions{}, Now: clk.Now}
	f := &Facts{Now: clk.Now(), Key: testKey, Config: Config{SessionKey: "ns/srv", HealthInterval: time.Minute,
		OAuth: oauth.Config{ServerURL: "http://" + ln.Addr().String() + "/mcp", HTTPClient: hc}}}
	res := r.Run(context.Background(), Pass{Facts: f, Owner: nopOwner{}, Log: logr.Discard()})
	c := res.Status.Authenticated
	if c == nil || c.Reason != ReasonEgressDenied {
		t.Fatalf("Authenticated = %+v, want EgressDenied", c)
	}
	for _, want := range []string{"127.0.0.2", netguard.FlagAllow} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("the condition's message %q does not name %s", c.Message, want)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections reached the denied listener", n)
	}
}
