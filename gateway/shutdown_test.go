package gateway_test

import (
	"slices"
	"testing"
	"time"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A stopping manager's gateway asks for no refresh and waits for none, although the upstream
// no longer accepts the token of the catalog's session: closing that session sends a DELETE
// the upstream refuses, and the gateway used to ask the controller (stopped first) for a
// refresh and wait for it until the SDK gave up on the DELETE (5 s; at N=5,000 such waits were
// 25 s of a 36 s shutdown). Only that DELETE reaches the gateway after the revocation.
func TestStoppingManagerWaitsForNoTokenForTheCatalog(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	h := startHarness(t, ns, func(o *Options) { o.RefreshWait = 10 * time.Minute })
	us := createServer(t, ns, "demo", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)
	cs := connect(t, h.url+"/mcp", false, "", nil)
	testenv.Eventually(t, 30*time.Second, "demo's tools on /mcp (the catalog's session open)", func() bool {
		return slices.Contains(toolNames(t, cs), ToolName(ns, "demo", "echo"))
	})

	server := ns + "/demo"
	asked := counter(t, "mcpproxy_gateway_refresh_requests_total", "server", server)
	srv.RevokeAll()
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	if after := counter(t, "mcpproxy_gateway_refresh_requests_total", "server", server); after != asked {
		t.Fatalf("the stopping gateway asked for %v refreshes", after-asked)
	}
}
