package gateway_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"
)

// A tool call on /mcp that the gateway answers itself instead of forwarding (here: the
// authorization server revoked the login mid-run, so the token is rejected and cannot be
// refreshed) tells its caller why, with the gateway's code and reason, as the pass-through
// does. The SDK's client keeps nothing of a 502 or 503 answer but its status, so the caller
// used to get its bare sentinel "rejected by transport" (what the bench's 64 clients got).
func TestAggregatedCallSaysWhyTheGatewayAnsweredItself(t *testing.T) {
	a := startAggregated(t, "revoked", func(o *Options) { o.RefreshWait = 2 * time.Second })
	srv, ns, cs, name := a.srv, a.ns, a.cs, a.echo
	if err := echo(cs, name, "before"); err != nil {
		t.Fatal(err)
	}

	srv.RevokeAll()
	err := echo(cs, name, "after the revocation")
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("want a JSON-RPC error, got %v", err)
	}
	t.Logf("the caller was told: %d %s %s", werr.Code, werr.Message, werr.Data)
	if !slices.Contains([]int64{CodeAuthorizationRequired, CodeUpstreamRejected, CodeNotReady}, werr.Code) ||
		strings.Contains(werr.Message, "rejected by transport") {
		t.Fatalf("got %d %q; want the gateway's own code (%d, %d or %d) and reason", werr.Code, werr.Message,
			CodeAuthorizationRequired, CodeUpstreamRejected, CodeNotReady)
	}
	if !strings.Contains(string(werr.Data), ns+"/revoked") {
		t.Errorf("data %s does not name the server", werr.Data)
	}
}
