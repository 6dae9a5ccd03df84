package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// idleSessionSweep is how long an aggregated session server without a live session is kept
// after a session last joined it.
const idleSessionSweep = time.Minute

// aggSession is the MCP server of one caller's sessions on /mcp: it lists only the tools of
// servers that caller may use. The sessions of one caller (the same user, UID, groups and
// extra) that opened with the same CredentialHeader see the same tools, so they share it
// (groupKey): the SDK's AddTool costs two JSON round trips per tool, and a server of its own
// for every session cost each new session that much per tool of the catalog.
type aggSession struct {
	key string
	id  *Identity
	// entries is the CredentialHeader of the initialize request: the sessions' choice among
	// the caller's credentials of PerSubject servers, for their whole life.
	entries []credentialEntry
	srv     *mcp.Server
	joined  time.Time               // when a session last joined; guarded by catalog.mu
	mu      sync.Mutex              // serializes apply
	have    map[string]*exposedTool // by exposed name
}

// groupKey names the sessions that share a server: the caller, everything its TokenReview
// said (the same principal with the same attributes), and the CredentialHeader as sent.
func groupKey(id *Identity, h http.Header) string {
	extra := make([]string, 0, len(id.Extra))
	for k, v := range id.Extra {
		extra = append(extra, k+"="+strings.Join(v, "\x01"))
	}
	sort.Strings(extra)
	return strings.Join([]string{id.accessPrefix(), strconv.FormatBool(id.Loopback), strings.Join(extra, "\x02"),
		strings.Join(h.Values(CredentialHeader), ",")}, "\x00")
}

type identityKey struct{}

func identityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// aggregateHandler serves /mcp: authentication, then the SDK's Streamable HTTP handler with one
// server per session. The caller's identity is also handed to the SDK as the session's user, so
// a session cannot be used with another caller's token.
func (g *Gateway) aggregateHandler() http.Handler {
	c := g.catalog
	h := mcp.NewStreamableHTTPHandler(c.newSessionServer, &mcp.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute})
	asUser := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		id := identityFrom(ctx)
		if id == nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: id.Name + "\x00" + id.UID, Expiration: time.Now().Add(time.Hour)}, nil
	}, nil)(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		ri := &requestInfo{start: time.Now()}
		defer func() { g.observeRequest(r, sw, ri, "aggregate") }()
		id, ok := g.authenticate(sw, r)
		if !ok {
			return
		}
		ri.caller = id.Name
		r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
		var next http.Handler = asUser
		if id.Loopback {
			next = h
		}
		if newSessionRequest(r) {
			g.serveNewSession(next, sw, r, id)
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// newAggServer is the MCP server of one /mcp session, without tools yet.
func newAggServer() *mcp.Server {
	return mcp.NewServer(&mcp.Implementation{Name: "mcpproxy-gateway", Version: "v1alpha1"}, &mcp.ServerOptions{
		Instructions: "Tools of the MCP servers you may use in this Kubernetes cluster, named <namespace>.<server>.<tool>.",
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})
}

// newSessionServer returns the server of a new /mcp session for the request's caller, once
// per new-session request (serveNewSession): the server its earlier sessions with the same
// CredentialHeader share, brought in step with the caller's permissions now, or a new one.
// For every other request the SDK only reads the protocol versions a server supports, which
// the shared tool-less server answers.
func (c *catalog) newSessionServer(r *http.Request) *mcp.Server {
	b := sessionBuildFrom(r.Context())
	if b == nil {
		return c.g.versions
	}
	if b.srv != nil {
		return b.srv
	}
	id := identityFrom(r.Context())
	key := groupKey(id, r.Header)
	c.mu.Lock()
	s := c.sessions[key]
	if s == nil {
		s = &aggSession{key: key, id: id, entries: credentialEntries(r.Header), srv: newAggServer(), have: map[string]*exposedTool{}}
		c.sessions[key] = s
	}
	s.joined = time.Now()
	c.mu.Unlock()
	b.srv = s.srv
	c.apply(r.Context(), s, newCredMemo(c.g))
	return s.srv
}

// applyAll brings every session server's tools in step with the catalog; sweep also forgets
// session servers no session joined for a while and whose sessions all ended.
func (c *catalog) applyAll(ctx context.Context, sweep bool) {
	c.mu.Lock()
	all := make([]*aggSession, 0, len(c.sessions))
	for key, s := range c.sessions {
		if sweep && time.Since(s.joined) > idleSessionSweep && !hasSessions(s.srv) {
			delete(c.sessions, key)
			continue
		}
		all = append(all, s)
	}
	c.mu.Unlock()
	memo := newCredMemo(c.g)
	for _, s := range all {
		c.apply(ctx, s, memo)
	}
}

func hasSessions(srv *mcp.Server) bool {
	for range srv.Sessions() {
		return true
	}
	return false
}

// apply adds and removes tools of s so it lists exactly the catalog's tools its caller may
// use: the Shared servers' tools, and for each PerSubject server the tools of the caller's
// Ready credential. The SDK sends notifications/tools/list_changed for the changes.
func (c *catalog) apply(ctx context.Context, s *aggSession, memo *credMemo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	tools := make([]*exposedTool, 0, len(c.tools))
	for _, t := range c.tools {
		tools = append(tools, t)
	}
	perSubj := make([]*mcpv1alpha1.UpstreamServer, 0, len(c.perSubject))
	for _, us := range c.perSubject {
		perSubj = append(perSubj, us)
	}
	c.mu.Unlock()
	allowed := map[types.NamespacedName]bool{}
	may := func(nn types.NamespacedName) bool {
		ok, seen := allowed[nn]
		if !seen {
			var err error
			if ok, err = c.g.auth.allowed(ctx, s.id, nn); err != nil {
				c.g.log.Error(err, "Failed to authorize a caller's tools", "caller", s.id.Name, "server", nn.String())
				ok = s.shows(nn) // keep what was shown until the review API answers
			}
			allowed[nn] = ok
		}
		return ok
	}
	want := map[string]*exposedTool{}
	for _, t := range tools {
		if may(t.server) {
			want[t.tool.Name] = t
		}
	}
	sort.Slice(perSubj, func(i, j int) bool { return upstream.Name(perSubj[i]).String() < upstream.Name(perSubj[j]).String() })
	for _, us := range perSubj {
		if !may(upstream.Name(us)) {
			continue
		}
		for _, t := range c.credentialTools(ctx, s, us, memo) {
			if _, taken := want[t.tool.Name]; taken {
				t = t.renamed(hashedToolName(us.Namespace, us.Name, t.name))
			}
			want[t.tool.Name] = t
		}
	}
	var remove []string
	for name, had := range s.have {
		if t, ok := want[name]; !ok || t.digest != had.digest {
			remove = append(remove, name)
			delete(s.have, name)
		}
	}
	if len(remove) > 0 {
		s.srv.RemoveTools(remove...)
	}
	for name, t := range want {
		if _, ok := s.have[name]; ok {
			continue
		}
		if addTool(s.srv, t.tool, c.callHandler(s, t)) {
			s.have[name] = t
		} else {
			c.g.log.Info("Skipped an upstream tool the SDK refused", "server", t.server.String(), "tool", t.name)
		}
	}
}

// shows reports whether s lists a tool of server nn. s.mu is held.
func (s *aggSession) shows(nn types.NamespacedName) bool {
	for _, t := range s.have {
		if t.server == nn {
			return true
		}
	}
	return false
}

// addTool adds a tool, reporting false when the SDK refuses it (it panics on malformed schemas).
func addTool(srv *mcp.Server, t *mcp.Tool, h mcp.ToolHandler) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	srv.AddTool(t, h)
	return true
}

// callHandler routes a tools/call of the exposed tool t to its upstream: through the
// server's session, or for a PerSubject server the session of the caller's credential as it
// is selected now.
func (c *catalog) callHandler(s *aggSession, t *exposedTool) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		status, credential := "error", ""
		defer func() {
			requests.WithLabelValues(t.server.String(), "tool_call", status).Inc()
			c.g.log.Info("Served gateway tool call", "caller", s.id.Name, "server", t.server.String(), "credential", credential,
				"tool", t.name, "status", status, "duration", time.Since(start).Round(time.Millisecond))
		}()
		if ok, err := c.g.auth.allowed(ctx, s.id, t.server); err != nil || !ok {
			status = "forbidden"
			return nil, &jsonrpc.Error{Code: CodeForbidden, Message: fmt.Sprintf("%s may not use UpstreamServer %s", s.id.Name, t.server)}
		}
		us, nr := c.g.check(ctx, t.server)
		h := serverHolder(us)
		if nr == nil && perSubject(us) {
			h, nr = c.g.credentialFor(ctx, s.id, us, s.entries, false)
		}
		if nr != nil {
			status = "unavailable"
			data, _ := json.Marshal(nr.data)
			return nil, &jsonrpc.Error{Code: int64(nr.code), Message: nr.msg, Data: data}
		}
		credential = h.credentialName()
		conn := c.conn(keyOf(h))
		if conn == nil {
			var err error
			var kept bool
			if conn, kept, err = c.reconnect(ctx, h); err != nil {
				status = "unavailable"
				return nil, &jsonrpc.Error{Code: CodeBadGateway, Message: fmt.Sprintf("The gateway could not open a session to UpstreamServer %s", t.server)}
			}
			if !kept {
				defer conn.close()
			}
		}
		addedLatency.Observe(time.Since(start).Seconds())
		cctx, refused := withRefusalSlot(ctx)
		res, err := conn.sess.CallTool(cctx, &mcp.CallToolParams{Meta: req.Params.Meta, Name: t.name, Arguments: req.Params.Arguments})
		if err != nil {
			var werr *jsonrpc.Error
			switch {
			case refused.get() != nil:
				// The gateway answered for the upstream (a token being replaced, a login
				// needed, refreshes backing off…): the caller learns why, as on the pass-through.
				status = "unavailable"
				return nil, refused.get().rpcError()
			case errors.As(err, &werr) && !rejectedByTransport(werr):
				status = "upstream_error"
				return nil, werr
			case werr != nil:
				// The SDK's client keeps only a sentinel of an answer it did not take (429,
				// 502, 503, 504) or of a request it could not send: say what happened instead.
				status = "unreachable"
				c.g.log.Info("A tool call did not reach its upstream", "server", t.server.String(), "tool", t.name, "error", err.Error())
				return nil, &jsonrpc.Error{Code: CodeBadGateway, Message: fmt.Sprintf(
					"Calling %s on UpstreamServer %s failed: the upstream did not take the call (%s); try again", t.name, t.server, lastPart(err))}
			}
			return nil, &jsonrpc.Error{Code: CodeBadGateway, Message: fmt.Sprintf("Calling %s on UpstreamServer %s failed: %v", t.name, t.server, err)}
		}
		status = "ok"
		return res, nil
	}
}

// rejectedByTransport reports whether e is the SDK's sentinel for a request its transport did
// not deliver (jsonrpc2.ErrRejected, not exported): an answer of 429, 502, 503 or 504, whose
// body the SDK drops, or a request that failed before any answer.
func rejectedByTransport(e *jsonrpc.Error) bool {
	return e.Code == -32005 && e.Message == "rejected by transport"
}

// lastPart is the innermost cause in err's message ("Service Unavailable", "connection
// refused"), without the URL a transport error names.
func lastPart(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// reconnect opens a new session with h's token when the old one is gone (at most one per
// call). A credential's session is wanted from then on, like one a session's tools use, and
// kept within MaxCredentialSessions; beyond, it serves this call only (kept false: the
// caller closes it).
func (c *catalog) reconnect(ctx context.Context, h holder) (conn *upstreamConn, kept bool, err error) {
	if conn, err = c.connect(ctx, h.us, h.cred); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	if old := c.conns[conn.key]; old != nil && !old.dead() {
		c.mu.Unlock()
		conn.close()
		return old, true, nil
	}
	defer c.mu.Unlock()
	if h.cred != nil {
		if c.credentialSessionsLocked() >= c.tuning.MaxCredentialSessions {
			return conn, false, nil
		}
		c.wantLocked(conn.key, h.cred)
		c.credVersion++
	}
	c.conns[conn.key] = conn
	return conn, true, nil
}

// keyOf is the key of the session that carries h's token.
func keyOf(h holder) connKey {
	if h.cred == nil {
		return connKey{nn: h.server()}
	}
	return connKey{nn: h.server(), cred: h.cred.Name, uid: h.cred.UID}
}
