// Package mcpconn is the one MCP client of the project (official Go SDK, Streamable HTTP or
// SSE): the reconciler's sessions, held in a Pool, and the gateway's catalog sessions. A
// session's bearer token is set by its owner, and a session never refreshes it: when the server
// answers 401 or the session drops, it tells its owner, which decides what to do.
package mcpconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Transport names, as in the UpstreamServer spec.
const (
	TransportStreamableHTTP = "streamable-http"
	TransportSSE            = "sse"
)

// ErrUnauthorized means the server rejected the session's credentials with 401.
var ErrUnauthorized = errors.New("the MCP server rejected the credentials (HTTP 401)")

// Target says where and how to connect.
type Target struct {
	URL       string
	Transport string
	// Headers are static headers (API keys) sent with every request.
	Headers http.Header
}

func (t Target) equal(o Target) bool {
	if t.URL != o.URL || t.Transport != o.Transport || len(t.Headers) != len(o.Headers) {
		return false
	}
	for k, v := range t.Headers {
		ov := o.Headers[k]
		if len(ov) != len(v) {
			return false
		}
		for i := range v {
			if v[i] != ov[i] {
				return false
			}
		}
	}
	return true
}

// Info describes the server as seen by initialize and tools/list.
type Info struct {
	Name, Version, ProtocolVersion string
	Tools                          int
}

// Options are a session's settings beyond its target.
type Options struct {
	// ClientName is the client's name in initialize.
	ClientName string
	// Token is the bearer token of the first requests; SetToken replaces it. Empty sends none.
	Token string
	// Notify is called when the server answers 401 or the session drops, possibly more than
	// once, from whichever goroutine saw it, and also for a 401 during Dial itself.
	Notify func()
	// Base sends the session's requests, after the token and static headers are added
	// (default: a transport that bounds every phase but the body). The gateway passes one that
	// adds the server's credentials itself.
	Base http.RoundTripper
	// OnToolsChanged, when set, makes the session keep the server's tools (Tools, ListTools)
	// and hold the standalone stream on which a Streamable HTTP server announces changes; it is
	// called, from the SDK's goroutine, when the server says its tool list changed.
	OnToolsChanged func()
}

// Session is one live MCP client session.
type Session struct {
	target       Target
	keepTools    bool
	token        atomic.Pointer[string]
	cs           *mcp.ClientSession
	info         Info
	mu           sync.Mutex // guards info.Tools and tools after Dial
	tools        []*mcp.Tool
	unauthorized atomic.Bool
	closed       atomic.Bool
	dropped      atomic.Bool
	closeOnce    sync.Once
	checkedAt    atomic.Int64
	cancel       context.CancelFunc
}

// Dial opens a session: initialize, then tools/list, both bounded by ctx. The session itself
// lives until Close, whatever happens to ctx.
func Dial(ctx context.Context, target Target, o Options) (*Session, error) {
	s := &Session{target: target, keepTools: o.OnToolsChanged != nil}
	s.token.Store(&o.Token)
	base := o.Base
	if base == nil {
		base = newBaseTransport()
	}
	hc := &http.Client{Transport: &bearerTransport{base: base, token: &s.token, headers: target.Headers,
		on401: func() {
			s.unauthorized.Store(true)
			if o.Notify != nil {
				o.Notify()
			}
		}}}
	var copts *mcp.ClientOptions
	if o.OnToolsChanged != nil {
		copts = &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { o.OnToolsChanged() }}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: o.ClientName, Version: "v1alpha1"}, copts)
	if err := s.connect(ctx, client, s.transport(hc)); err != nil {
		return nil, err
	}
	if _, err := s.ListTools(ctx); err != nil {
		_ = s.cs.Close()
		s.cancel()
		return nil, err
	}
	go func() {
		_ = s.cs.Wait()
		if !s.closed.Load() {
			s.dropped.Store(true)
			if o.Notify != nil {
				o.Notify()
			}
		}
	}()
	return s, nil
}

// transport is the SDK transport of the session's target. A session that keeps its tools
// listens on the standalone stream and reconnects it once more than one that does not.
func (s *Session) transport(hc *http.Client) mcp.Transport {
	if s.target.Transport == TransportSSE {
		return &mcp.SSEClientTransport{Endpoint: s.target.URL, HTTPClient: hc}
	}
	t := &mcp.StreamableClientTransport{Endpoint: s.target.URL, HTTPClient: hc, MaxRetries: 1, DisableStandaloneSSE: true}
	if s.keepTools {
		t.MaxRetries, t.DisableStandaloneSSE = 2, false
	}
	return t
}

// connect runs initialize. The SDK ties the connection's streams (the SSE transport's GET, the
// standalone stream) to the context given to Connect, so the session gets a context of its own
// that lives until Close; ctx bounds only the handshake.
func (s *Session) connect(ctx context.Context, client *mcp.Client, transport mcp.Transport) error {
	sctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	stopWatch := context.AfterFunc(ctx, cancel)
	cs, err := client.Connect(sctx, transport, nil)
	if !stopWatch() && err == nil {
		err = ctx.Err() // the handshake outlived ctx: the session is already torn down
	}
	if err != nil {
		if cs != nil {
			_ = cs.Close()
		}
		cancel()
		if s.unauthorized.Load() {
			return fmt.Errorf("initializing MCP session with %s: %w", s.target.URL, ErrUnauthorized)
		}
		return fmt.Errorf("initializing MCP session with %s: %w", s.target.URL, err)
	}
	s.cs = cs
	if init := cs.InitializeResult(); init != nil {
		s.info.ProtocolVersion = init.ProtocolVersion
		if init.ServerInfo != nil {
			s.info.Name, s.info.Version = init.ServerInfo.Name, init.ServerInfo.Version
		}
	}
	return nil
}

// ListTools runs tools/list and records the count (Info), and the tools themselves when the
// session keeps them (Options.OnToolsChanged).
func (s *Session) ListTools(ctx context.Context) ([]*mcp.Tool, error) {
	var tools []*mcp.Tool
	n := 0
	for t, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			if s.unauthorized.Load() {
				return nil, fmt.Errorf("listing tools of %s: %w", s.target.URL, ErrUnauthorized)
			}
			return nil, fmt.Errorf("listing tools of %s: %w", s.target.URL, err)
		}
		n++
		if s.keepTools {
			tools = append(tools, t)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info.Tools, s.tools = n, tools
	return tools, nil
}

// Tools are the tools of the last tools/list, when the session keeps them.
func (s *Session) Tools() []*mcp.Tool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tools
}

// SetToken replaces the bearer token of every later request and forgets an earlier 401.
func (s *Session) SetToken(token string) {
	s.token.Store(&token)
	s.unauthorized.Store(false)
}

// Info is what initialize and the last tools/list reported.
func (s *Session) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Healthy is false once the session dropped or was closed, and while the server refuses its
// token with 401 (until SetToken).
func (s *Session) Healthy() bool {
	return !s.closed.Load() && !s.dropped.Load() && !s.unauthorized.Load()
}

// Unauthorized reports whether the server answered 401 since the token was last set.
func (s *Session) Unauthorized() bool { return s.unauthorized.Load() }

// Ping checks that the server still answers on the session.
func (s *Session) Ping(ctx context.Context) error {
	if err := s.cs.Ping(ctx, nil); err != nil {
		if s.unauthorized.Load() {
			return fmt.Errorf("pinging %s: %w", s.target.URL, ErrUnauthorized)
		}
		return fmt.Errorf("pinging %s: %w", s.target.URL, err)
	}
	return nil
}

// CallTool calls one tool on the session.
func (s *Session) CallTool(ctx context.Context, params *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	return s.cs.CallTool(ctx, params)
}

// MarkChecked records when the owner last verified the session (dial or ping).
func (s *Session) MarkChecked(t time.Time) { s.checkedAt.Store(t.UnixNano()) }

// CheckedAt is when the owner last verified the session.
func (s *Session) CheckedAt() time.Time { return time.Unix(0, s.checkedAt.Load()) }

// Close ends the session. It is safe to call more than once.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		err = s.cs.Close()
		s.cancel()
	})
	return err
}
