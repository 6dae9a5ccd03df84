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

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
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
	// ClientName and ClientVersion are the client's name and version in initialize
	// (default version "v1alpha1").
	ClientName, ClientVersion string
	// Token is the bearer token of the first requests; SetToken replaces it. Empty sends none.
	Token string
	// Notify is called when the server answers 401 or the session drops, possibly more than
	// once, from whichever goroutine saw it, and also for a 401 during Dial itself.
	Notify func()
	// Base sends the session's requests. It must end in a *netguard.Transport: the session
	// hands its token and static headers to it in the request's context (netguard.Credentials,
	// bound to Target.URL), and that transport attaches them only to Target.URL's origin.
	// Default: a netguard.Transport with netguard.Default's egress policy. The gateway passes
	// one that adds the server's credentials itself.
	Base http.RoundTripper
	// OnToolsChanged, when set, makes the session keep the server's tools (Tools, ListTools)
	// and hold the standalone stream on which a Streamable HTTP server announces changes; it is
	// called, from the SDK's goroutine, when the server says its tool list changed.
	OnToolsChanged func()
	// KeepTools makes the session keep the tools it lists (Tools) without listening for
	// changes (the CLI's probe prints them once).
	KeepTools bool
	// Limits bound what the session reads; zero fields take DefaultLimits. Crossing one
	// closes the session, and the call that met it returns a *LimitError.
	Limits Limits
}

// Session is one live MCP client session.
type Session struct {
	target    Target
	keepTools bool
	limits    Limits
	bt        *bearerTransport
	// exceeded is the first bound an answer crossed; the session is torn down then.
	exceeded atomic.Pointer[LimitError]
	notify   func()
	// creds are the session's credentials, bound to target.URL, the URL it was dialled for;
	// nil once dropped (a spec change) or when it was dialled without any.
	creds        atomic.Pointer[netguard.Credentials]
	credsDropped atomic.Bool
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
	s := &Session{target: target, keepTools: o.OnToolsChanged != nil || o.KeepTools, limits: o.Limits.WithDefaults(), notify: o.Notify}
	s.setCredentials(o.Token)
	base := o.Base
	if base == nil {
		base = defaultTransport
	}
	s.bt = &bearerTransport{base: base, creds: &s.creds, limits: s.limits, exceeded: s.exceed,
		on401: func() {
			s.unauthorized.Store(true)
			if o.Notify != nil {
				o.Notify()
			}
		}}
	hc := &http.Client{CheckRedirect: netguard.CheckRedirect, Transport: s.bt}
	if o.ClientVersion == "" {
		o.ClientVersion = "v1alpha1"
	}
	if err := s.connect(ctx, clientFor(o.ClientName, o.ClientVersion), s.transport(hc)); err != nil {
		return nil, err
	}
	// A change announced before this is in the tool list read next.
	if o.OnToolsChanged != nil {
		toolsChanged.Store(s.cs, o.OnToolsChanged)
	}
	if _, err := s.ListTools(ctx); err != nil {
		toolsChanged.Delete(s.cs)
		_ = s.cs.Close()
		s.cancel()
		return nil, err
	}
	go func() {
		_ = s.cs.Wait()
		toolsChanged.Delete(s.cs)
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
		return &mcp.SSEClientTransport{Endpoint: s.target.URL, HTTPClient: hc, MaxEventSize: s.sdkEventSize()}
	}
	t := &mcp.StreamableClientTransport{Endpoint: s.target.URL, HTTPClient: hc, MaxRetries: 1, DisableStandaloneSSE: true,
		MaxEventSize: s.sdkEventSize()}
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
	mark := s.bt.mark()
	cs, err := client.Connect(sctx, transport, nil)
	if !stopWatch() && err == nil {
		err = ctx.Err() // the handshake outlived ctx: the session is already torn down
	}
	if err == nil && s.exceeded.Load() != nil {
		err = errors.New("closed") // crossed a bound on the way (an event of the stream, say)
	}
	if err != nil {
		if cs != nil {
			_ = cs.Close()
		}
		cancel()
		return fmt.Errorf("initializing MCP session with %s: %w", s.target.URL, s.callError(mark, "initialize", err))
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

// SetToken replaces the bearer token of a session that holds one (a refresh rotates it) and
// forgets an earlier 401. A session dialled without a token, or whose credentials were
// dropped, ignores it: it may be bound to another URL than the token (its owner's spec changed
// since it was dialled), and only Pool.Ensure, which knows the token's target, gives it one.
// It reports whether the token was taken.
func (s *Session) SetToken(token string) bool {
	if c := s.creds.Load(); c == nil || c.Bearer == "" || s.credsDropped.Load() {
		return false
	}
	s.setCredentials(token)
	s.unauthorized.Store(false)
	return true
}

// SetTokenFor gives the session token when serverURL, the URL the token was issued for (its
// record's ServerURL), is the URL the session was dialled for; otherwise it changes nothing
// and reports false.
func (s *Session) SetTokenFor(serverURL, token string) bool {
	if serverURL != s.target.URL || s.credsDropped.Load() {
		return false
	}
	s.setCredentials(token)
	s.unauthorized.Store(false)
	return true
}

// Target is what the session was dialled for: its credentials are bound to Target().URL.
func (s *Session) Target() Target { return s.target }

// setCredentials binds token and the target's static headers to the target's URL.
func (s *Session) setCredentials(token string) {
	if token == "" && len(s.target.Headers) == 0 {
		s.creds.Store(nil)
		return
	}
	s.creds.Store(&netguard.Credentials{BoundURL: s.target.URL, Bearer: token, Headers: s.target.Headers})
}

// dropCredentials makes every later request of the session, its closing DELETE included, go
// without token or static headers: its owner's spec no longer names its target.
func (s *Session) dropCredentials() {
	s.credsDropped.Store(true)
	s.creds.Store(nil)
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
	return !s.closed.Load() && !s.dropped.Load() && !s.unauthorized.Load() && s.exceeded.Load() == nil
}

// Unauthorized reports whether the server answered 401 since the token was last set.
func (s *Session) Unauthorized() bool { return s.unauthorized.Load() }

// Ping checks that the server still answers on the session.
func (s *Session) Ping(ctx context.Context) error {
	mark := s.bt.mark()
	if err := s.cs.Ping(ctx, nil); err != nil {
		return fmt.Errorf("pinging %s: %w", s.target.URL, s.callError(mark, "ping", err))
	}
	return nil
}

// CallTool calls one tool on the session. A refusal (401, 403) is a *ChallengeError, a
// crossed bound a *LimitError; other errors are the SDK's (a JSON-RPC error, say).
func (s *Session) CallTool(ctx context.Context, params *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	mark := s.bt.mark()
	res, err := s.cs.CallTool(ctx, params)
	if err != nil {
		if e := s.callError(mark, "tools/call", nil); e != nil {
			// Both stay reachable: the bound or refusal, and the SDK's error (a JSON-RPC
			// error the server sent with its 403, say).
			return nil, fmt.Errorf("calling %s on %s: %w: %w", params.Name, s.target.URL, e, err)
		}
	}
	return res, err
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
