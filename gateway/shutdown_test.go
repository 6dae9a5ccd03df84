package gateway_test

import (
	"testing"
	"time"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"
)

// A stopping manager's gateway asks for no refresh and waits for none, although the upstream
// no longer accepts the token of the catalog's session: closing that session sends a DELETE
// the upstream refuses, and the gateway used to ask the controller (stopped by then) for a
// refresh and wait for it until the SDK gave up on the DELETE (5 s; at N=5,000 such waits were
// 25 s of a 36 s shutdown). The catalog does not resync meanwhile, so that DELETE is the only
// request the gateway sends upstream after the revocation.
func TestStoppingManagerWaitsForNoTokenForTheCatalog(t *testing.T) {
	a := startAggregated(t, "demo", func(o *Options) { o.RefreshWait, o.ResyncInterval = 10*time.Minute, 10*time.Minute })
	server := a.ns + "/demo"
	asked := func() float64 { return counter(t, "mcpproxy_gateway_refresh_requests_total", "server", server) }
	gaveUp := func() float64 {
		return counter(t, "mcpproxy_gateway_token_retries_total", "server", server, "result", "no_new_token")
	}
	a.srv.RevokeAll()
	askedBefore, gaveUpBefore := asked(), gaveUp()
	if err := a.h.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := asked() - askedBefore; n != 0 {
		t.Errorf("the stopping gateway asked for %v refreshes", n)
	}
	if gaveUp() == gaveUpBefore {
		t.Error("the catalog's closing DELETE was not refused by the upstream and answered at once")
	}
}
