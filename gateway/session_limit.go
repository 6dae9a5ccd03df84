package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sessionSlots counts the open aggregated /mcp sessions of each identity. A slot is held until
// the session that took it ends (a DELETE, the SDK's idle timeout), or at once for a failed
// initialize; the sessions of one caller may share a server (aggSession).
type sessionSlots struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newSessionSlots(max int) *sessionSlots {
	return &sessionSlots{max: max, open: map[string]int{}}
}

// acquire takes a slot for key, or reports false when key holds max already.
func (s *sessionSlots) acquire(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[key] >= s.max {
		return false
	}
	s.open[key]++
	return true
}

func (s *sessionSlots) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[key]--; s.open[key] <= 0 {
		delete(s.open, key)
	}
}

// holdUntilClosed keeps key's slot until srv's session sessionID ended; srv nil (no server was
// built) or without that session (initialize failed) frees it at once.
func (s *sessionSlots) holdUntilClosed(key string, srv *mcp.Server, sessionID string) {
	var live *mcp.ServerSession
	if srv != nil && sessionID != "" {
		for ss := range srv.Sessions() {
			if ss.ID() == sessionID {
				live = ss
				break
			}
		}
	}
	if live == nil {
		s.release(key)
		return
	}
	go func() {
		_ = live.Wait()
		s.release(key)
	}()
}

// newSessionRequest is a request that may make the SDK open a session: a POST without a
// session id that carries an initialize (opensSession). It restores r's body after peeking.
func newSessionRequest(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Header.Get("Mcp-Session-Id") != "" || r.Body == nil {
		return false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return false // the SDK refuses it (415) without reading the body or opening a session
	}
	// The SDK refuses a larger body (413) before it opens a session, so peeking at most that
	// much buffers nothing the SDK would not read anyway.
	head, err := io.ReadAll(io.LimitReader(r.Body, mcp.DefaultMaxRequestBodyBytes+1))
	rest := io.Reader(r.Body)
	if err != nil {
		// A body cut short fails once, then reads as a clean end: the SDK must see the failure.
		rest = failingReader{err}
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), rest), r.Body}
	return err != nil || int64(len(head)) > mcp.DefaultMaxRequestBodyBytes || opensSession(head)
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// opensSession reports whether body, posted without a session id, may open a session. Only
// an initialize does: anything else (server/discover, which SDK clients of 2026 send before
// their initialize; a ping) gets a session the SDK closes when the request ends, so it must
// neither take a slot nor build a session server. Before this, the discover's slot was given
// back only after its answer, and the client's initialize right behind it could find the
// caller's last slot still taken.
//
// Read conservatively, since the SDK decodes with another JSON library (case-sensitive
// fields): exempt is only a single JSON object in which every key spelled "method" in any
// letter case holds a string other than "initialize".
func opensSession(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return true // a batch, or not JSON: let the SDK judge it, within a slot
	}
	methods := 0
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return true
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return true
		}
		if k, _ := key.(string); !strings.EqualFold(k, "method") {
			continue
		}
		var method string
		if json.Unmarshal(value, &method) != nil || method == "initialize" {
			return true
		}
		methods++
	}
	return methods == 0 // a response or junk without a method: conservatively a session
}

// sessionBuild carries the one server built for a new-session request. The SDK asks for a
// server on every request (also for the protocol versions it supports), twice on a new
// session: only the new-session request builds one, and only once.
type sessionBuild struct {
	srv *mcp.Server
}

type sessionBuildKey struct{}

func withSessionBuild(ctx context.Context, b *sessionBuild) context.Context {
	return context.WithValue(ctx, sessionBuildKey{}, b)
}

func sessionBuildFrom(ctx context.Context) *sessionBuild {
	b, _ := ctx.Value(sessionBuildKey{}).(*sessionBuild)
	return b
}

// serveNewSession serves a new-session request within id's slots; it answers 429 itself when
// id holds MaxSessionsPerIdentity sessions. A loopback caller (local runs only) is not capped.
func (g *Gateway) serveNewSession(h http.Handler, w http.ResponseWriter, r *http.Request, id *Identity) {
	b := &sessionBuild{}
	r = r.WithContext(withSessionBuild(r.Context(), b))
	if id.Loopback {
		h.ServeHTTP(w, r)
		return
	}
	key := id.Name + "\x00" + id.UID
	if !g.slots.acquire(key) {
		sessionsRefused.Inc()
		writeRPCError(w, http.StatusTooManyRequests, nil, CodeTooManyRequests, fmt.Sprintf(
			"%s already has %d open sessions on the gateway's /mcp, the most allowed; end one (DELETE with its Mcp-Session-Id) or reuse it",
			id.Name, g.opts.MaxSessionsPerIdentity), &rpcErrorData{Reason: ReasonTooManySessions}, 0)
		return
	}
	h.ServeHTTP(w, r)
	g.slots.holdUntilClosed(key, b.srv, w.Header().Get("Mcp-Session-Id"))
}
