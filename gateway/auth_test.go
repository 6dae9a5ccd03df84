package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Callers authenticate with a ServiceAccount token (TokenReview) and need `use` on the server
// (SubjectAccessReview, RBAC in envtest): 401 without a token, 403 without the permission, 200
// with it. The aggregated endpoint lists only the servers a caller may use.
func TestCallerNeedsUseOnTheServer(t *testing.T) {
	srv := testenv.StartOAuthServer(t, oauthserver.Options{NoAuth: true})
	ns := newNamespace(t)
	h := startHarness(t, ns, func(o *Options) {
		o.AllowLoopbackUnauthenticated = false
		o.AuthCacheTTL = 300 * time.Millisecond
	})
	us := createServer(t, ns, "public-example", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	waitReady(t, us, 30*time.Second)
	token := serviceAccountToken(t, ns, "my-agent")
	url := h.serverURL("public-example")

	status, hdr, body := rawPost(t, url, "", "", initializeBody)
	if status != http.StatusUnauthorized || rpcErrorCode(body) != CodeUnauthenticated || hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %s", status, body)
	}
	if status, _, body = rawPost(t, url, "not-a-token", "", initializeBody); status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d %s", status, body)
	}
	if status, _, body = rawPost(t, url, token, "", initializeBody); status != http.StatusForbidden || rpcErrorCode(body) != CodeForbidden {
		t.Fatalf("token without `use`: %d %s", status, body)
	}
	if _, err := dial(url, false, token, nil); err == nil {
		t.Fatal("an SDK client without `use` connected")
	}
	agg := connect(t, h.url+"/mcp", false, token, nil)
	if names := toolNames(t, agg); len(names) != 0 {
		t.Fatalf("the aggregated endpoint lists tools of a server the caller may not use: %v", names)
	}

	applyRBACSample(t, ns)
	testenv.Eventually(t, 10*time.Second, "`use` granted", func() bool {
		status, _, _ = rawPost(t, url, token, "", initializeBody)
		return status == http.StatusOK
	})
	cs := connect(t, url, false, token, nil)
	if err := echo(cs, "echo", "allowed"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.logs.String(), token) {
		t.Fatal("the gateway logged a caller's token")
	}
	want := ToolName(ns, "public-example", "echo")
	testenv.Eventually(t, 45*time.Second, "aggregated tools after the grant", func() bool {
		return slices.Contains(toolNames(t, connect(t, h.url+"/mcp", false, token, nil)), want)
	})
}

// toolNames lists the tools of a session.
func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatalf("listing tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	return names
}
