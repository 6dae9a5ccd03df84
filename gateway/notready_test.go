package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A server waiting for a login answers with a JSON-RPC error that names the login command;
// an unknown server with 404.
func TestNotReadyServerTellsWhatToDo(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "needs-login", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	var cur *mcpv1alpha1.UpstreamServer
	testenv.Eventually(t, 30*time.Second, "AuthorizationRequired", func() bool {
		cur = get(t, us)
		return cur.Status.Authorization != nil && cur.Status.Authorization.LoginCommand != ""
	})
	var (
		status int
		body   []byte
	)
	// The gateway reads the manager's cache, a moment behind the API server.
	testenv.Eventually(t, 10*time.Second, "the gateway asking for a login", func() bool {
		status, _, body = rawPost(t, h.serverURL("needs-login"), "", "", initializeBody)
		return rpcErrorCode(body) != CodeNotReady
	})
	var resp struct {
		ID    json.RawMessage `json:"id"`
		Error rpcError        `json:"error"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("%d %s: %v", status, body, err)
	}
	if status != http.StatusServiceUnavailable || resp.Error.Code != CodeAuthorizationRequired || string(resp.ID) != "1" ||
		resp.Error.Data == nil || resp.Error.Data.LoginCommand != cur.Status.Authorization.LoginCommand {
		t.Fatalf("not-ready answer: %d %s", status, body)
	}
	if status, _, body = rawPost(t, h.serverURL("nope"), "", "", initializeBody); status != http.StatusNotFound || rpcErrorCode(body) != CodeNotFound {
		t.Fatalf("unknown server: %d %s", status, body)
	}
}
