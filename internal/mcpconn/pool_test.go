package mcpconn

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

func startServer(t *testing.T, opts oauthserver.Options) *oauthserver.Server {
	t.Helper()
	s := oauthserver.New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestEnsureDialsOnceAndReportsTheServer(t *testing.T) {
	srv := startServer(t, oauthserver.Options{NoAuth: true})
	for _, transport := range []struct{ name, url string }{
		{TransportStreamableHTTP, srv.MCPURL()},
		{TransportSSE, srv.SSEURL()},
	} {
		t.Run(transport.name, func(t *testing.T) {
			p := NewPool("test", nil, nil)
			defer p.CloseAll()
			target := Target{URL: transport.url, Transport: transport.name, Headers: http.Header{"X-Api-Key": {"k"}}}
			s, dialed, err := p.Ensure(context.Background(), "ns/a", target, "")
			if err != nil || !dialed {
				t.Fatalf("Ensure: dialed=%t err=%v", dialed, err)
			}
			if info := s.Info(); info.Tools < 3 || info.Name == "" || info.ProtocolVersion == "" {
				t.Fatalf("info not reported: %+v", info)
			}
			again, dialed, err := p.Ensure(context.Background(), "ns/a", target, "")
			if err != nil || dialed || again != s {
				t.Fatalf("a healthy session was not reused: dialed=%t err=%v", dialed, err)
			}
			res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			if err != nil || res.IsError {
				t.Fatalf("echo: %v %+v", err, res)
			}
			other := target
			other.Headers = http.Header{"X-Api-Key": {"changed"}}
			if _, dialed, err := p.Ensure(context.Background(), "ns/a", other, ""); err != nil || !dialed {
				t.Fatalf("a changed target did not redial: dialed=%t err=%v", dialed, err)
			}
			if p.size() != 1 {
				t.Fatalf("pool holds %d sessions, want 1", p.size())
			}
		})
	}
}

// A 401 while dialling is returned to the caller, who decides; the session never refreshes.
func TestUnauthorizedIsReportedNotRefreshed(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	var notified atomic.Int32
	p := NewPool("test", func(key string) {
		if key == "ns/locked" {
			notified.Add(1)
		}
	}, nil)
	defer p.CloseAll()
	_, _, err := p.Ensure(context.Background(), "ns/locked", Target{URL: srv.MCPURL()}, "not-a-valid-token")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("want ErrUnauthorized, got %v", err)
	}
	// The caller holds the error: a notification as well would only make the owner dial
	// again at once.
	if n := notified.Load(); n != 0 {
		t.Fatalf("the owner was notified %d times of a dial that already returned its error", n)
	}
	if st := srv.Stats(); st.TokenRequests["refresh_token"] != 0 {
		t.Fatalf("the session tried to refresh by itself: %+v", st.TokenRequests)
	}
}

func TestPingFailsInAnOutageAndClosingIsNotADrop(t *testing.T) {
	srv := startServer(t, oauthserver.Options{NoAuth: true})
	dropped := make(chan string, 4)
	p := NewPool("test", func(key string) { dropped <- key }, nil)
	defer p.CloseAll()
	s, _, err := p.Ensure(context.Background(), "ns/d", Target{URL: srv.MCPURL()}, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetMCPOutage(oauthserver.Outage503, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping succeeded during an outage")
	}
	p.Close("ns/d")
	if s.Healthy() {
		t.Fatal("a closed session reports healthy")
	}
	select {
	case key := <-dropped:
		t.Fatalf("closing a session on purpose was reported as a drop of %s", key)
	default:
	}
}

// The SSE transport's stream must outlive the context that bounded the handshake.
func TestSessionOutlivesTheDialContext(t *testing.T) {
	srv := startServer(t, oauthserver.Options{NoAuth: true})
	for _, tr := range []struct{ name, url string }{{TransportSSE, srv.SSEURL()}, {TransportStreamableHTTP, srv.MCPURL()}} {
		t.Run(tr.name, func(t *testing.T) {
			p := NewPool("test", nil, nil)
			defer p.CloseAll()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			s, _, err := p.Ensure(ctx, "ns/sse", Target{URL: tr.url, Transport: tr.name}, "")
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer pcancel()
			if err := s.Ping(pctx); err != nil {
				t.Fatalf("the session died with its dial context: %v", err)
			}
			if !s.Healthy() {
				t.Fatal("session unhealthy after its dial context ended")
			}
		})
	}
}

// heldDeletes holds every DELETE (a session's end) until released, counting how many are in
// flight at once.
type heldDeletes struct {
	base              http.RoundTripper
	inFlight, maxSeen atomic.Int32
	release           chan struct{}
}

func (h *heldDeletes) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodDelete {
		return h.base.RoundTrip(req)
	}
	n := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for m := h.maxSeen.Load(); n > m && !h.maxSeen.CompareAndSwap(m, n); m = h.maxSeen.Load() {
	}
	<-h.release
	return h.base.RoundTrip(req)
}

// CloseAll ends sessions side by side, not one after the other: at shutdown every session's
// DELETE waits for its server, and in a row 5,000 of them outlasted the pod's grace period.
func TestCloseAllEndsSessionsSideBySide(t *testing.T) {
	srv := startServer(t, oauthserver.Options{NoAuth: true})
	held := &heldDeletes{base: http.DefaultTransport, release: make(chan struct{})}
	p := NewPool("test", nil, held)
	const sessions = 20
	for i := range sessions {
		if _, _, err := p.Ensure(context.Background(), "ns/s"+string(rune('a'+i)), Target{URL: srv.MCPURL(), Transport: TransportStreamableHTTP}, ""); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { p.CloseAll(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for held.maxSeen.Load() < sessions && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(held.release)
	<-done
	if got := held.maxSeen.Load(); got < sessions {
		t.Fatalf("at most %d of %d sessions' DELETEs were in flight at once", got, sessions)
	}
	if p.size() != 0 {
		t.Fatalf("%d sessions left after CloseAll", p.size())
	}
}
