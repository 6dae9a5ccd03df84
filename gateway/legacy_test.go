package gateway_test

import (
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A server on the legacy SSE transport is used through the gateway with the SDK's SSE client:
// the stream's endpoint event is rewritten to the gateway, and messages posted there reach the
// server with its token.
func TestLegacySSETransport(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "legacy", mcpv1alpha1.UpstreamServerSpec{URL: srv.SSEURL(), Transport: mcpv1alpha1.TransportSSE})
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)

	cs := connect(t, h.serverURL("legacy"), true, "", nil)
	for i := range 3 {
		if err := echo(cs, "echo", "legacy "+string(rune('a'+i))); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}
