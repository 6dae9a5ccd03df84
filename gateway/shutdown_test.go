package gateway_test

import (
	"testing"
	"time"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"
)

// A stopping manager's gateway asks for no refresh and waits for none, although the upstream
// no longer accepts the token of the catalog's session: closing that session sends a DELETE
// the upstream refuses, and the gateway used to ask the controller (stopped first) for a
// refresh and wait for it until the SDK gave up on the DELETE (5 s; at N=5,000 such waits were
// 25 s of a 36 s shutdown). Only that DELETE reaches the gateway after the revocation.
func TestStoppingManagerWaitsForNoTokenForTheCatalog(t *testing.T) {
	a := startAggregated(t, "demo", func(o *Options) { o.RefreshWait = 10 * time.Minute })
	server := a.ns + "/demo"
	asked := counter(t, "mcpproxy_gateway_refresh_requests_total", "server", server)
	a.srv.RevokeAll()
	if err := a.h.Stop(); err != nil {
		t.Fatal(err)
	}
	if after := counter(t, "mcpproxy_gateway_refresh_requests_total", "server", server); after != asked {
		t.Fatalf("the stopping gateway asked for %v refreshes", after-asked)
	}
}
