// Package mcpconn holds live MCP client sessions (official Go SDK, Streamable HTTP or SSE) whose
// bearer token is set by their owner. A session never refreshes a token: when the server
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

// Session is one live MCP client session.
type Session struct {
	target       Target
	token        atomic.Pointer[string]
	cs           *mcp.ClientSession
	info         Info
	unauthorized atomic.Bool
	closed       atomic.Bool
	dropped      atomic.Bool
	closeOnce    sync.Once
	checkedAt    atomic.Int64
	cancel       context.CancelFunc
}

// Dial opens a session: initialize, then tools/list. notify is called (from another goroutine,
// possibly more than once) when the server answers 401 or the session drops.
func Dial(ctx context.Context, target Target, token string, clientName string, notify func()) (*Session, error) {
	s := &Session{target: target}
	s.token.Store(&token)
	hc := &http.Client{Transport: &bearerTransport{
		base:    newBaseTransport(),
		token:   &s.token,
		headers: target.Headers,
		on401: func() {
			s.unauthorized.Store(true)
			if notify != nil {
				notify()
			}
		},
	}}
	var transport mcp.Transport
	switch target.Transport {
	case TransportSSE:
		transport = &mcp.SSEClientTransport{Endpoint: target.URL, HTTPClient: hc}
	default:
		transport = &mcp.StreamableClientTransport{Endpoint: target.URL, HTTPClient: hc, MaxRetries: 1, DisableStandaloneSSE: true}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: clientName, Version: "v1alpha1"}, nil)
	// The SDK ties the connection's streams (the SSE transport's GET) to the context given to
	// Connect, so the session gets a context of its own that lives until Close; ctx only bounds
	// the handshake.
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
			return nil, fmt.Errorf("initializing MCP session with %s: %w", target.URL, ErrUnauthorized)
		}
		return nil, fmt.Errorf("initializing MCP session with %s: %w", target.URL, err)
	}
	s.cs = cs
	init := cs.InitializeResult()
	if init != nil {
		s.info.ProtocolVersion = init.ProtocolVersion
		if init.ServerInfo != nil {
			s.info.Name, s.info.Version = init.ServerInfo.Name, init.ServerInfo.Version
		}
	}
	n, err := s.countTools(ctx)
	if err != nil {
		_ = cs.Close()
		cancel()
		return nil, err
	}
	s.info.Tools = n
	go func() {
		_ = cs.Wait()
		if !s.closed.Load() {
			s.dropped.Store(true)
			if notify != nil {
				notify()
			}
		}
	}()
	return s, nil
}

func (s *Session) countTools(ctx context.Context) (int, error) {
	n := 0
	for _, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			if s.unauthorized.Load() {
				return 0, fmt.Errorf("listing tools of %s: %w", s.target.URL, ErrUnauthorized)
			}
			return 0, fmt.Errorf("listing tools of %s: %w", s.target.URL, err)
		}
		n++
	}
	return n, nil
}

// SetToken replaces the bearer token used by every later request.
func (s *Session) SetToken(token string) {
	s.token.Store(&token)
	s.unauthorized.Store(false)
}

// Info is what initialize and tools/list reported.
func (s *Session) Info() Info { return s.info }

// Healthy is false once the session dropped, was closed, or was refused with 401.
func (s *Session) Healthy() bool {
	return !s.closed.Load() && !s.dropped.Load() && !s.unauthorized.Load()
}

// Unauthorized reports whether the server answered 401 since the token was last set.
func (s *Session) Unauthorized() bool { return s.unauthorized.Load() }

// Ping checks the session and refreshes its tool count.
func (s *Session) Ping(ctx context.Context) error {
	if err := s.cs.Ping(ctx, nil); err != nil {
		if s.unauthorized.Load() {
			return fmt.Errorf("pinging %s: %w", s.target.URL, ErrUnauthorized)
		}
		return fmt.Errorf("pinging %s: %w", s.target.URL, err)
	}
	return nil
}

// CallTool calls one tool on the session (used by tests and the gateway).
func (s *Session) CallTool(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	return s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
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
