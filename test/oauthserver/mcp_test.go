package oauthserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearerTransport adds a fixed bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens an MCP session to endpoint over transport kind ("streamable"
// or "sse") with a fixed token.
func connect(t *testing.T, kind, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	// The SSE transport keeps using ctx for its hanging GET, so it must
	// live as long as the session.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hc := &http.Client{Transport: bearerTransport{token}}
	var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1}
	if kind == "sse" {
		tr = &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: hc}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connecting to %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

func TestMCPTools(t *testing.T) {
	clock := newFakeClock()
	s := start(t, Options{AutoApprove: true, Now: clock.Now})
	c := register(t, s, "none")
	for _, kind := range []string{"streamable", "sse"} {
		t.Run(kind, func(t *testing.T) {
			endpoint := map[string]string{"streamable": s.MCPURL(), "sse": s.SSEURL()}[kind]
			v, ch := pkcePair()
			q := authParams(s, c, ch)
			q.Set("resource", endpoint)
			code := getCode(t, s, c, q)
			_, tok, _ := tokenRequest(t, s, c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect}})
			cs := connect(t, kind, endpoint, tok["access_token"].(string))

			res, err := callTool(t, cs, "echo", map[string]any{"text": "hello"})
			if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "hello" {
				t.Fatalf("echo: %v %+v", err, res)
			}
			res, err = callTool(t, cs, "whoami", nil)
			if err != nil || res.IsError {
				t.Fatalf("whoami: %v %+v", err, res)
			}
			var id identity
			raw, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(raw, &id)
			if id.Subject != "test-user" || !slices.Equal(id.Scopes, []string{"mcp", "profile"}) {
				t.Fatalf("whoami = %+v", id)
			}
			if kind == "streamable" && id.ClientID != c.id {
				t.Fatalf("whoami client = %q, want %q", id.ClientID, c.id)
			}
			res, err = callTool(t, cs, "get_time", nil)
			if err != nil || !strings.Contains(string(mustJSON(res.StructuredContent)), "2026-11-26T12:00:00") {
				t.Fatalf("get_time: %v %s", err, mustJSON(res))
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestMCPChallenges(t *testing.T) {
	clock := newFakeClock()
	s := start(t, Options{AutoApprove: true, Now: clock.Now, AccessTokenTTL: time.Minute})
	c := register(t, s, "none")
	other := start(t, Options{AutoApprove: true})
	oc := register(t, other, "none")

	mcpTok := login(t, s, c, "mcp")["access_token"].(string)
	profileOnly := login(t, s, c, "profile")["access_token"].(string)
	v, ch := pkcePair()
	q := authParams(s, c, ch)
	q.Set("resource", s.SSEURL())
	code := getCode(t, s, c, q)
	_, sseTok, _ := tokenRequest(t, s, c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect}})
	foreign := login(t, other, oc, "mcp")["access_token"].(string)
	expiring := login(t, s, c, "mcp")["access_token"].(string)
	revoked := login(t, s, c, "mcp")
	req, _ := http.NewRequest(http.MethodPost, s.Issuer()+"/revoke", strings.NewReader(url.Values{"token": {revoked["refresh_token"].(string)}, "client_id": {c.id}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v", err)
	}

	prm := `resource_metadata="` + s.PRMURL() + `"`
	whoami := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
	tests := map[string]struct {
		token, body string
		advance     time.Duration
		wantStatus  int
		wantHeader  []string
		notHeader   string
	}{
		"no token":        {wantStatus: 401, wantHeader: []string{prm, `scope="mcp"`}, notHeader: "error="},
		"garbage token":   {token: "not-a-jwt", wantStatus: 401, wantHeader: []string{`error="invalid_token"`, prm}},
		"foreign issuer":  {token: foreign, wantStatus: 401, wantHeader: []string{`error="invalid_token"`}},
		"wrong audience":  {token: sseTok["access_token"].(string), wantStatus: 401, wantHeader: []string{`error="invalid_token"`}},
		"revoked grant":   {token: revoked["access_token"].(string), wantStatus: 401, wantHeader: []string{`error="invalid_token"`}},
		"missing scope":   {token: profileOnly, wantStatus: 403, wantHeader: []string{`error="insufficient_scope"`, `scope="mcp"`, prm}},
		"whoami no scope": {token: mcpTok, body: whoami, wantStatus: 403, wantHeader: []string{`error="insufficient_scope"`, `scope="mcp profile"`}},
		"valid":           {token: mcpTok, wantStatus: 200},
		"expired":         {token: expiring, advance: time.Minute, wantStatus: 401, wantHeader: []string{`error="invalid_token"`}},
	}
	// Map order is random, and "expired" moves the clock: run it last.
	names := []string{"no token", "garbage token", "foreign issuer", "wrong audience", "revoked grant", "missing scope", "whoami no scope", "valid", "expired"}
	for _, name := range names {
		tc := tests[name]
		t.Run(name, func(t *testing.T) {
			clock.Advance(tc.advance)
			resp := mcpPost(t, s.MCPURL(), tc.token, tc.body)
			h := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (WWW-Authenticate %q)", resp.StatusCode, tc.wantStatus, h)
			}
			for _, want := range tc.wantHeader {
				if !strings.HasPrefix(h, "Bearer ") || !strings.Contains(h, want) {
					t.Errorf("WWW-Authenticate %q lacks %s", h, want)
				}
			}
			if tc.notHeader != "" && strings.Contains(h, tc.notHeader) {
				t.Errorf("WWW-Authenticate %q has %s", h, tc.notHeader)
			}
		})
	}
	st := s.Stats()
	want := Stats{MCPNoToken: 1, MCPInvalidToken: 3, MCPWrongAudience: 1, MCPInsufficientScope: 2, MCPValidToken: 1, MCPExpiredToken: 1}
	if st.MCPNoToken != want.MCPNoToken || st.MCPInvalidToken != want.MCPInvalidToken || st.MCPWrongAudience != want.MCPWrongAudience ||
		st.MCPInsufficientScope != want.MCPInsufficientScope || st.MCPValidToken != want.MCPValidToken || st.MCPExpiredToken != want.MCPExpiredToken {
		t.Fatalf("stats %+v", st)
	}
}

func TestSSERequiresAuth(t *testing.T) {
	s := start(t, Options{})
	resp, err := http.Get(s.SSEURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `resource_metadata="` + s.URL() + `/.well-known/oauth-protected-resource/sse"`
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), want) {
		t.Fatalf("GET /sse: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestNoAuth(t *testing.T) {
	s := start(t, Options{NoAuth: true})
	for _, kind := range []string{"streamable", "sse"} {
		endpoint := map[string]string{"streamable": s.MCPURL(), "sse": s.SSEURL()}[kind]
		cs := connect(t, kind, endpoint, "")
		res, err := callTool(t, cs, "whoami", nil)
		if err != nil || !strings.Contains(string(mustJSON(res.StructuredContent)), "anonymous") {
			t.Fatalf("%s whoami: %v %s", kind, err, mustJSON(res))
		}
	}
}

// With OpenInitialize a client opens a session without a token and meets the challenge on
// its first later request, as with servers that authorize per method.
func TestOpenInitializeChallengesTheNextRequest(t *testing.T) {
	s := start(t, Options{OpenInitialize: true})
	if resp := mcpPost(t, s.MCPURL(), "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize without a token: HTTP %d, want 200", resp.StatusCode)
	}
	resp := mcpPost(t, s.MCPURL(), "", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata") {
		t.Fatalf("tools/list without a token: HTTP %d %q, want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
