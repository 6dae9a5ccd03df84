package gateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// The aggregated /mcp lists the tools of two Ready servers (one OAuth, one public) under
// <namespace>.<server>.<tool>, routes calls to the right one, and tells the client with
// notifications/tools/list_changed when a server leaves.
func TestAggregatedEndpointListsAndCallsTwoServers(t *testing.T) {
	authed := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	public := testenv.StartOAuthServer(t, oauthserver.Options{NoAuth: true})
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	alpha := createServer(t, ns, "alpha", mcpv1alpha1.UpstreamServerSpec{URL: authed.MCPURL()})
	beta := createServer(t, ns, "beta", mcpv1alpha1.UpstreamServerSpec{URL: public.MCPURL()})
	testenv.Login(t, authed, alpha)
	waitReady(t, alpha, 30*time.Second)
	waitReady(t, beta, 30*time.Second)

	changed := make(chan struct{}, 16)
	cs := connect(t, h.url+"/mcp", false, "", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	alphaEcho, betaEcho, betaTime := ToolName(ns, "alpha", "echo"), ToolName(ns, "beta", "echo"), ToolName(ns, "beta", "get_time")
	testenv.Eventually(t, 30*time.Second, "tools of both servers", func() bool {
		names := toolNames(t, cs)
		return slices.Contains(names, alphaEcho) && slices.Contains(names, betaEcho) && slices.Contains(names, betaTime)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for tool := range cs.Tools(ctx, nil) {
		if tool.Name == alphaEcho && (tool.Description == "" || tool.InputSchema == nil) {
			t.Fatalf("%s lost its description or input schema: %+v", alphaEcho, tool)
		}
	}
	for _, name := range []string{alphaEcho, betaEcho} {
		if err := echo(cs, name, "via "+name); err != nil {
			t.Fatalf("calling %s: %v", name, err)
		}
	}
	before := authed.Stats().MCPValidToken
	if err := echo(cs, alphaEcho, "counted"); err != nil {
		t.Fatal(err)
	}
	if authed.Stats().MCPValidToken == before {
		t.Fatal("the call to alpha did not reach alpha's server with its token")
	}

	// beta leaves: suspended servers are not Ready.
	drainChanges(changed)
	if err := apiClient.Patch(ctx, get(t, beta), client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"suspend":true}}`))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("no notifications/tools/list_changed after beta was suspended")
	}
	testenv.Eventually(t, 10*time.Second, "beta's tools gone", func() bool {
		names := toolNames(t, cs)
		return slices.Contains(names, alphaEcho) && !slices.Contains(names, betaEcho)
	})
}

func drainChanges(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
