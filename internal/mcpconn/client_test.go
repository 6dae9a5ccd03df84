package mcpconn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Sessions of one client name share one SDK client. A tool-list change still reaches the owner
// of the session it was announced on and no other, and a session that ended is forgotten.
func TestSessionsShareAClientAndHearTheirOwnChanges(t *testing.T) {
	const name = "shared-client-test"
	serve := func() (*mcp.Server, string) {
		srv := mcp.NewServer(&mcp.Implementation{Name: "changing", Version: "v0"}, nil)
		srv.AddTool(&mcp.Tool{Name: "first", InputSchema: map[string]any{"type": "object"}}, noop)
		hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
		t.Cleanup(hs.Close)
		return srv, hs.URL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	changed := make(chan string, 8)
	dial := func(url, tag string) *Session {
		s, err := Dial(ctx, Target{URL: url}, Options{ClientName: name, OnToolsChanged: func() { changed <- tag }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	srvA, urlA := serve()
	srvB, urlB := serve()
	a, b := dial(urlA, "a"), dial(urlB, "b")
	defer b.Close()

	clients.mu.Lock()
	shared := 0
	for k := range clients.m {
		if k.name == name {
			shared++
		}
	}
	clients.mu.Unlock()
	if shared != 1 {
		t.Fatalf("%d SDK clients for one client name, want 1", shared)
	}

	for _, step := range []struct {
		srv *mcp.Server
		tag string
	}{{srvB, "b"}, {srvA, "a"}} {
		step.srv.AddTool(&mcp.Tool{Name: "added-" + step.tag, InputSchema: map[string]any{"type": "object"}}, noop)
		select {
		case got := <-changed:
			if got != step.tag {
				t.Fatalf("a change of server %s reached session %s", step.tag, got)
			}
		case <-ctx.Done():
			t.Fatalf("the change of server %s reached no session", step.tag)
		}
	}

	_ = a.Close()
	for {
		if _, held := toolsChanged.Load(a.cs); !held {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("a closed session is still routed tool-list changes")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, held := toolsChanged.Load(b.cs); !held {
		t.Fatal("closing one session forgot another")
	}
}
