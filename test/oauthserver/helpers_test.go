package oauthserver

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start runs a server on loopback for the length of the test.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// noRedirect is an HTTP client that shows redirects instead of following.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// pkcePair returns a fresh verifier and its S256 challenge.
func pkcePair() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text() // 52 base32 characters, all unreserved
	sum := sha256.Sum256([]byte(verifier))
	return verifier, b64.EncodeToString(sum[:])
}

// testClient is an OAuth client of the server under test.
type testClient struct {
	id, secret string
	method     string // client_secret_basic, client_secret_post or none
	redirect   string
}

const testRedirect = "http://127.0.0.1:7777/callback"

// register registers a client with DCR using auth method m.
func register(t *testing.T, s *Server, m string) testClient {
	t.Helper()
	status, body := postJSON(t, s.Issuer()+"/register", map[string]any{
		"redirect_uris": []string{testRedirect}, "token_endpoint_auth_method": m,
		"grant_types": []string{"authorization_code", "refresh_token"},
	})
	if status != http.StatusCreated {
		t.Fatalf("register: status %d body %v", status, body)
	}
	secret, _ := body["client_secret"].(string)
	return testClient{id: body["client_id"].(string), secret: secret, method: m, redirect: testRedirect}
}

func postJSON(t *testing.T, u string, v any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		m["_raw"] = string(raw)
	}
	return m
}

// authParams are the usual parameters of an authorization request.
func authParams(s *Server, c testClient, challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {c.id}, "redirect_uri": {c.redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"state": {"st-123"}, "scope": {"mcp profile"}, "resource": {s.MCPURL()},
	}
}

func authURL(s *Server, q url.Values) string { return s.Issuer() + "/authorize?" + q.Encode() }

// getCode runs the authorization step headlessly and returns the code.
func getCode(t *testing.T, s *Server, c testClient, q url.Values) string {
	t.Helper()
	loc, err := s.FollowAuthorize(authURL(s, q))
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in redirect %s", loc.Redacted())
	}
	return code
}

// tokenRequest posts form to the token endpoint authenticating as c.
func tokenRequest(t *testing.T, s *Server, c testClient, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Issuer()+"/token", nil)
	switch c.method {
	case "client_secret_basic":
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	case "client_secret_post":
		form.Set("client_id", c.id)
		form.Set("client_secret", c.secret)
	default:
		form.Set("client_id", c.id)
	}
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, decode(t, resp), resp.Header
}

// login runs the whole code flow and returns the token response.
func login(t *testing.T, s *Server, c testClient, scope string) map[string]any {
	t.Helper()
	v, ch := pkcePair()
	q := authParams(s, c, ch)
	q.Set("scope", scope)
	code := getCode(t, s, c, q)
	status, body, _ := tokenRequest(t, s, c, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect},
	})
	if status != http.StatusOK {
		t.Fatalf("code exchange: status %d body %v", status, body)
	}
	return body
}

func refresh(t *testing.T, s *Server, c testClient, rt string) (int, map[string]any) {
	t.Helper()
	status, body, _ := tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	return status, body
}

// mcpPost sends an MCP initialize with token (if any) and returns the
// response, body drained.
func mcpPost(t *testing.T, u, token string, msg string) *http.Response {
	t.Helper()
	if msg == "" {
		msg = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(msg))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
