package mcpconn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func noop(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return &mcp.CallToolResult{}, nil
}

// A session that keeps its tools (the gateway's catalog) hears the server's tool list change
// on the standalone stream, relists, and sends every request through the owner's Base
// transport with the token and static headers handed to it, bound to the session's URL.
func TestSessionKeepsToolsAndHearsChanges(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "changing", Version: "v0"}, nil)
	srv.AddTool(&mcp.Tool{Name: "first", InputSchema: map[string]any{"type": "object"}}, noop)
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)

	var viaBase, withCredentials atomic.Int64
	base := netguard.NewTransport(nil, netguard.TransportOptions{})
	changed := make(chan struct{}, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, Target{URL: hs.URL, Headers: http.Header{"X-Api-Key": {"k"}}}, Options{
		ClientName: "test", Token: "tok",
		Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			viaBase.Add(1)
			if c := netguard.CredentialsFrom(r.Context()); c != nil && c.Bearer == "tok" && c.Headers.Get("X-Api-Key") == "k" && c.BoundURL == hs.URL {
				withCredentials.Add(1)
			}
			return base.RoundTrip(r)
		}),
		OnToolsChanged: func() { changed <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if tools := s.Tools(); len(tools) != 1 || tools[0].Name != "first" || s.Info().Tools != 1 {
		t.Fatalf("tools after dial: %v (info %+v)", tools, s.Info())
	}

	srv.AddTool(&mcp.Tool{Name: "second", InputSchema: map[string]any{"type": "object"}}, noop)
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("the tool list change was not announced to the session")
	}
	tools, err := s.ListTools(ctx)
	if err != nil || len(tools) != 2 || len(s.Tools()) != 2 || s.Info().Tools != 2 {
		t.Fatalf("relisting: %v %v (info %+v)", tools, err, s.Info())
	}
	if viaBase.Load() == 0 || viaBase.Load() != withCredentials.Load() {
		t.Fatalf("%d requests went through Base, %d with the token and headers", viaBase.Load(), withCredentials.Load())
	}
}

// The reconciler's sessions count tools but do not hold them.
func TestSessionCountsToolsWithoutKeepingThem(t *testing.T) {
	srv := startServer(t, oauthserver.Options{NoAuth: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, Target{URL: srv.MCPURL()}, Options{ClientName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Info().Tools == 0 || s.Tools() != nil {
		t.Fatalf("info %+v, tools %v: want a count and no tools kept", s.Info(), s.Tools())
	}
}
