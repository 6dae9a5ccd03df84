package mcpconn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// attacker is an MCP server an editor points a spec at: it needs no auth, answers with a
// session id, and records every request's credentials.
type attacker struct {
	*httptest.Server
	mu      sync.Mutex
	methods []string
	leaked  []string // "METHOD header" for every credential received
}

func newAttacker(t *testing.T) *attacker {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "attacker", Version: "v0"}, nil)
	srv.AddTool(&mcp.Tool{Name: "bait", InputSchema: map[string]any{"type": "object"}}, noop)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	a := &attacker{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.methods = append(a.methods, r.Method)
		for _, name := range []string{"Authorization", "X-Api-Key"} {
			if v := r.Header.Get(name); v != "" {
				a.leaked = append(a.leaked, r.Method+" "+name+": "+v)
			}
		}
		a.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *attacker) seen() (methods, leaked []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.methods...), append([]string(nil), a.leaked...)
}

// TestURLFlipNeverSendsTheOldTokenToTheNewTarget is the editor's attack on the controller's
// session: spec.url A (logged in) → B (the attacker's) → A, with a refresh of A's token
// while B's session is still held. B must not receive A's token, not even in the DELETE that
// closes its session.
func TestURLFlipNeverSendsTheOldTokenToTheNewTarget(t *testing.T) {
	home := newAttacker(t) // plays A: records too, so the test sees what A legitimately got
	evil := newAttacker(t)
	p := NewPool("test", nil, nil)
	defer p.CloseAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := Target{URL: home.URL, Headers: http.Header{"X-Api-Key": {"a-key"}}}
	b := Target{URL: evil.URL}
	if _, _, err := p.Ensure(ctx, "ns/s", a, "token-of-A"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Ensure(ctx, "ns/s", b, ""); err != nil {
		t.Fatal(err)
	}
	// The lifecycle refreshes A's token while the pool still holds B's session.
	p.Get("ns/s").SetToken("refreshed-token-of-A")
	if err := p.Get("ns/s").Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Ensure(ctx, "ns/s", a, "refreshed-token-of-A"); err != nil {
		t.Fatal(err)
	}
	methods, leaked := evil.seen()
	if len(leaked) > 0 {
		t.Fatalf("the attacker received credentials: %v", leaked)
	}
	if !contains(methods, http.MethodDelete) {
		t.Fatalf("B's session was not closed with a DELETE (saw %v): the test did not exercise the close", methods)
	}
	if _, homeLeaked := home.seen(); len(homeLeaked) == 0 {
		t.Fatal("A never received its own credentials: the test proves nothing")
	}
}

// TestSpecChangeClosesTheOldSessionWithoutCredentials: a session B dialled with B's own token
// is closed without it when the spec moves on (the DELETE included).
func TestSpecChangeClosesTheOldSessionWithoutCredentials(t *testing.T) {
	old := newAttacker(t)
	next := newAttacker(t)
	p := NewPool("test", nil, nil)
	defer p.CloseAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := p.Ensure(ctx, "ns/s", Target{URL: old.URL}, "token-of-old"); err != nil {
		t.Fatal(err)
	}
	_, before := old.seen()
	if _, _, err := p.Ensure(ctx, "ns/s", Target{URL: next.URL}, ""); err != nil {
		t.Fatal(err)
	}
	methods, after := old.seen()
	if !contains(methods, http.MethodDelete) {
		t.Fatalf("the old session was not closed (saw %v)", methods)
	}
	if len(after) != len(before) {
		t.Fatalf("closing after a spec change sent credentials: %v", after[len(before):])
	}
}

// TestRedirectsNeverCarryCredentials: A answers 307 to another loopback origin; neither the
// bearer token nor the static API key reaches it.
func TestRedirectsNeverCarryCredentials(t *testing.T) {
	evil := newAttacker(t)
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer home.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, Target{URL: home.URL + "/mcp", Headers: http.Header{"X-Api-Key": {"a-key"}}},
		Options{ClientName: "test", Token: "token-of-A"})
	if err == nil {
		_ = s.Close()
	}
	if methods, leaked := evil.seen(); len(leaked) > 0 || len(methods) > 0 {
		t.Fatalf("the redirect target received %v (credentials: %v)", methods, leaked)
	}
}

// SetTokenFor takes only a token issued for the session's own URL.
func TestSetTokenForChecksTheBinding(t *testing.T) {
	home := newAttacker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, Target{URL: home.URL}, Options{ClientName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.SetToken("t") || s.SetTokenFor("https://elsewhere.example/mcp", "t") {
		t.Fatal("a credential-less session took a token not bound to it")
	}
	if !s.SetTokenFor(home.URL, "t") || !s.SetToken("t2") {
		t.Fatal("the session refused its own token")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
