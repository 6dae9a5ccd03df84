package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// authServer is test/oauthserver served in this process behind the refresh recorder.
type authServer struct {
	*oauthserver.Server
	rec    *recorder
	http   *http.Server
	client *http.Client
}

// clientID names the pre-registered public OAuth client of server i.
func clientID(i int) string { return fmt.Sprintf("bench-%05d", i) }

const redirectURI = "http://127.0.0.1:1/callback"

// startAuthServer serves test/oauthserver with public clients pre-registered: one per server
// (clientID(i) for i < n), raw ones for the plain HTTP client, "direct", and the extra ones.
func startAuthServer(n, raw int, ttl time.Duration, extra ...string) (*authServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	clients := make(map[string]string, n+raw+len(extra))
	for i := range n {
		clients[clientID(i)] = ""
	}
	for _, id := range extra {
		clients[id] = ""
	}
	for i := range raw {
		clients[fmt.Sprintf("%s%03d", rawClientPrefix, i)] = ""
	}
	clients["direct"] = ""
	srv := oauthserver.New(oauthserver.Options{
		BaseURL: "http://" + ln.Addr().String(), AccessTokenTTL: ttl, AutoApprove: true, NoDCR: true, Clients: clients,
	})
	a := &authServer{Server: srv, rec: newRecorder(), client: &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256},
	}}
	a.http = &http.Server{Handler: a.rec.wrap(srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.http.Serve(ln) }()
	return a, nil
}

func (a *authServer) close() {
	_ = a.http.Close()
	_ = a.Close()
}

func (a *authServer) tokenEndpoint() string { return a.Issuer() + "/token" }

// grant is a token pair as the token endpoint answered it.
type grant struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	// Obtained is when the request was sent; Expiry is expires_in after the answer.
	Obtained, Expiry time.Time
}

// mint runs a scripted authorization-code flow (PKCE, auto-approved) for client and returns the
// tokens: what a browser login would have produced.
func (a *authServer) mint(ctx context.Context, client string) (*grant, error) {
	return a.mintAs(ctx, client, "")
}

// mintAs is mint logging in upstream user (login_hint), or the server's default user when empty.
func (a *authServer) mintAs(ctx context.Context, client, user string) (*grant, error) {
	vb := make([]byte, 32)
	_, _ = rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirectURI}, "state": {"bench"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {a.Resource()}, "scope": {"mcp profile offline_access"},
	}
	if user != "" {
		q.Set("login_hint", user)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.Issuer()+"/authorize?"+q.Encode(), nil)
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authorizing: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("authorizing: status %d, no redirect", resp.StatusCode)
	}
	code := loc.Query().Get("code")
	if code == "" {
		return nil, fmt.Errorf("authorizing: redirect without a code (error %q)", loc.Query().Get("error"))
	}
	return a.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {client}, "code_verifier": {verifier}, "resource": {a.Resource()}})
}

// refresh spends refreshToken, as a plain HTTP client.
func (a *authServer) refresh(ctx context.Context, client, refreshToken string) (*grant, error) {
	return a.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"client_id": {client}, "resource": {a.Resource()}})
}

func (a *authServer) token(ctx context.Context, form url.Values) (*grant, error) {
	obtained := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenEndpoint(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token endpoint: %s", resp.Status)
	}
	var g grant
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, err
	}
	g.Obtained, g.Expiry = obtained, time.Now().Add(time.Duration(g.ExpiresIn)*time.Second)
	return &g, nil
}

// rawThroughput drives the token endpoint with workers plain clients, each refreshing its own
// grant in a loop for d, and returns successful refreshes per second.
func (a *authServer) rawThroughput(workers int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	grants := make([]*grant, workers)
	for i := range grants {
		g, err := a.mint(ctx, fmt.Sprintf("%s%03d", rawClientPrefix, i))
		if err != nil {
			return 0, fmt.Errorf("minting a grant for the raw client: %w", err)
		}
		grants[i] = g
	}
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	stopAt := start.Add(d)
	for i := range workers {
		wg.Go(func() {
			rt := grants[i].RefreshToken
			for time.Now().Before(stopAt) {
				g, err := a.refresh(ctx, fmt.Sprintf("%s%03d", rawClientPrefix, i), rt)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				rt = g.RefreshToken
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil && done.Load() == 0 {
		return 0, firstErr
	}
	if done.Load() == 0 {
		return 0, errors.New("the raw client completed no refresh")
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// tokenSource keeps a valid access token for the direct MCP calls, minting a new one when the
// current one is about to expire.
type tokenSource struct {
	a  *authServer
	mu sync.Mutex
	g  *grant
}

func (ts *tokenSource) token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.g == nil || time.Until(ts.g.Expiry) < 2*time.Second {
		g, err := ts.a.mint(ctx, "direct")
		if err != nil {
			return "", err
		}
		ts.g = g
	}
	return ts.g.AccessToken, nil
}

// bearer adds the token source's token to every request.
type bearer struct {
	ts   *tokenSource
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := b.ts.token(r.Context())
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return b.base.RoundTrip(r)
}
