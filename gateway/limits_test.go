package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// errorReason reads data.reason of a JSON-RPC error answer.
func errorReason(body []byte) string {
	var m struct {
		Error rpcError `json:"error"`
	}
	if json.Unmarshal(body, &m) != nil || m.Error.Data == nil {
		return ""
	}
	return m.Error.Data.Reason
}

// discoverBody is a server/discover as go-sdk v1.8.0 clients send it before their initialize
// (with discoverHeaders).
const discoverBody = `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{` +
	`"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
	`"io.modelcontextprotocol/clientInfo":{"name":"gateway-test","version":"v0"},` +
	`"io.modelcontextprotocol/clientCapabilities":{}}}}`

var discoverHeaders = map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}

// One identity may hold at most 16 aggregated /mcp sessions (the default); the 17th is refused
// with a clear error, another identity is not affected, and ending a session frees its slot.
func TestAggregatedSessionsAreCappedPerIdentity(t *testing.T) {
	ns := newNamespace(t)
	h := startHarness(t, ns, func(o *Options) { o.AllowLoopbackUnauthenticated = false })
	greedy, other := serviceAccountToken(t, ns, "greedy"), serviceAccountToken(t, ns, "other")
	url := h.url + "/mcp"

	sessions := make([]*mcp.ClientSession, 0, 16)
	for i := range 16 {
		cs, err := dial(url, false, greedy, nil)
		if err != nil {
			_, _, body := rawPost(t, url, greedy, "", initializeBody)
			t.Fatalf("session %d: %v (now: %s)", i+1, err, body)
		}
		t.Cleanup(func() { _ = cs.Close() })
		sessions = append(sessions, cs)
	}
	status, _, body := rawPost(t, url, greedy, "", initializeBody)
	if status != http.StatusTooManyRequests || rpcErrorCode(body) != CodeTooManyRequests || errorReason(body) != ReasonTooManySessions {
		t.Fatalf("the 17th session: %d %s, want 429 %s", status, body, ReasonTooManySessions)
	}
	connect(t, url, false, other, nil) // someone else's sessions do not count
	// A server/discover (which SDK clients send before their initialize) opens no session: at
	// the cap it is answered by the MCP handler, not refused. Before, it took a slot for the
	// length of its request, and the initialize right behind it was sometimes refused.
	status, hdr, body := rawPostWith(t, url, greedy, "", discoverBody, discoverHeaders)
	if status != http.StatusOK || hdr.Get("Mcp-Session-Id") != "" {
		t.Fatalf("a server/discover at the cap: %d (session %q) %s, want the MCP handler's answer and no session",
			status, hdr.Get("Mcp-Session-Id"), body)
	}

	if err := sessions[0].Close(); err != nil { // DELETE: the slot is free again
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "a slot freed by closing a session", func() bool {
		cs, err := dial(url, false, greedy, nil)
		if err != nil {
			return false
		}
		t.Cleanup(func() { _ = cs.Close() })
		return true
	})
}

// Junk bearer tokens cost at most the review rate limit in TokenReviews and never evict the
// cached answer of a real workload's token.
func TestJunkTokensNeitherFloodReviewsNorEvictGoodAnswers(t *testing.T) {
	ns := newNamespace(t)
	// A small answer cache, so before the fix a handful of junk tokens flushed it.
	h := startHarness(t, ns, func(o *Options) { o.AllowLoopbackUnauthenticated = false; o.AuthCacheSize = 8 })
	good := serviceAccountToken(t, ns, "agent")
	url := h.url + "/mcp"
	if status, _, body := rawPost(t, url, good, "", initializeBody); status != http.StatusOK {
		t.Fatalf("the good token: %d %s", status, body)
	}

	const junk = 200
	rejected, limited := 0, 0
	for i := range junk {
		status, hdr, body := rawPost(t, url, fmt.Sprintf("junk-token-%d", i), "", initializeBody)
		switch {
		case status == http.StatusUnauthorized:
			rejected++
		case status == http.StatusTooManyRequests && rpcErrorCode(body) == CodeTooManyRequests &&
			errorReason(body) == ReasonReviewRateLimited && hdr.Get("Retry-After") != "":
			limited++
		default:
			t.Fatalf("junk token %d: %d %s", i, status, body)
		}
	}
	// The default per-address limit is a burst of 20 and 5/s after it.
	if rejected > 40 || limited < junk-40 {
		t.Errorf("%d junk tokens were reviewed and %d refused unreviewed, want at most 40 reviewed", rejected, limited)
	}
	// A junk token already rejected is answered from the rejected cache, within the limit.
	if status, _, _ := rawPost(t, url, "junk-token-0", "", initializeBody); status != http.StatusUnauthorized {
		t.Errorf("a known junk token: %d, want 401 from the rejected cache", status)
	}
	hits := counter(t, "mcpproxy_gateway_auth_cache_total", "kind", "token", "result", "hit")
	if status, _, body := rawPost(t, url, good, "", initializeBody); status != http.StatusOK {
		t.Fatalf("the good token after the junk: %d %s", status, body)
	}
	if got := counter(t, "mcpproxy_gateway_auth_cache_total", "kind", "token", "result", "hit") - hits; got != 1 {
		t.Errorf("the good token's answer was evicted by junk (cache hits +%v, want +1)", got)
	}
}
