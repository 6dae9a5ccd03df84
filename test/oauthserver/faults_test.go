package oauthserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenFaults(t *testing.T) {
	tests := map[string]struct {
		fault      Fault
		wantStatus int
		wantError  string
		wantRetry  string
	}{
		"500":            {Fault{Kind: FaultServerError}, 500, "server_error", ""},
		"503":            {Fault{Kind: FaultUnavailable, RetryAfter: 7 * time.Second}, 503, "temporarily_unavailable", "7"},
		"503 default":    {Fault{Kind: FaultUnavailable}, 503, "temporarily_unavailable", "1"},
		"invalid_grant":  {Fault{Kind: FaultInvalidGrant}, 400, "invalid_grant", ""},
		"invalid_client": {Fault{Kind: FaultInvalidClient}, 401, "invalid_client", ""},
		"malformed":      {Fault{Kind: FaultMalformed}, 200, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := start(t, Options{AutoApprove: true})
			c := register(t, s, "none")
			rt := login(t, s, c, "mcp")["refresh_token"].(string)
			s.FailNextTokenRequests(1, tc.fault)
			status, body, hdr := tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			if status != tc.wantStatus || body["error"] != nilIfEmpty(tc.wantError) || hdr.Get("Retry-After") != tc.wantRetry {
				t.Fatalf("got %d %v Retry-After %q", status, body, hdr.Get("Retry-After"))
			}
			if tc.fault.Kind == FaultMalformed && body["access_token"] != nil {
				t.Fatalf("malformed body parsed: %v", body)
			}
			// The fault is used up and the refresh token was not consumed.
			if status, body := refresh(t, s, c, rt); status != 200 {
				t.Fatalf("request after the fault: %d %v", status, body)
			}
			if got := s.Stats().TokenFaultsInjected; got != 1 {
				t.Fatalf("faults injected = %d", got)
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func TestTokenFaultsQueueInOrder(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	v, ch := pkcePair()
	code := getCode(t, s, c, authParams(s, c, ch))
	s.FailNextTokenRequests(2, Fault{Kind: FaultUnavailable})
	s.FailNextTokenRequests(1, Fault{Kind: FaultServerError})
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect}}
	for i, want := range []int{503, 503, 500, 200} {
		if status, body, _ := tokenRequest(t, s, c, form); status != want {
			t.Fatalf("request %d: %d %v, want %d", i, status, body, want)
		}
	}
}

func TestSlowTokenAnswer(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	rt := login(t, s, c, "mcp")["refresh_token"].(string)

	s.FailNextTokenRequests(1, Fault{Kind: FaultSlow, Delay: 300 * time.Millisecond})
	begin := time.Now()
	if status, _ := refresh(t, s, c, rt); status != 200 {
		t.Fatalf("slow refresh: %d", status)
	}
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Fatalf("slow answer took only %v", d)
	}

	// A client that gives up does not stop the server: the refresh still
	// happens, and the rotated token is lost to the client, as in life.
	st := s.Stats()
	s.FailNextTokenRequests(1, Fault{Kind: FaultSlow, Delay: time.Hour})
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	resp, err := hc.PostForm(s.Issuer()+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {latestRefresh(t, s)}, "client_id": {c.id}})
	if err == nil {
		resp.Body.Close()
		t.Fatalf("client did not time out: %d", resp.StatusCode)
	}
	eventually(t, "the abandoned refresh to complete", func() bool { return s.Stats().Refreshes == st.Refreshes+1 })
}

// latestRefresh returns the current refresh token of the only live grant.
func latestRefresh(t *testing.T, s *Server) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		if !g.revoked {
			return g.current
		}
	}
	t.Fatal("no live grant")
	return ""
}

func TestConcurrentRefreshesAreCounted(t *testing.T) {
	s := start(t, Options{AutoApprove: true, RefreshReuseGrace: time.Minute})
	c := register(t, s, "none")
	rt := login(t, s, c, "mcp")["refresh_token"].(string)
	// Hold every refresh in the server until all three are in flight.
	s.FailNextTokenRequests(3, Fault{Kind: FaultSlow, Delay: time.Hour})
	ctx, release := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.Issuer()+"/token",
				strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.id}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	eventually(t, "three refreshes in flight", func() bool { return s.Stats().MaxConcurrentRefreshes == 3 })
	release()
	wg.Wait()
	eventually(t, "the refreshes to finish", func() bool { return s.Stats().Refreshes == 3 })
	if st := s.Stats(); st.RefreshReuseWithinGrace != 2 || st.RefreshReuseDetected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMCPOutage(t *testing.T) {
	clock := newFakeClock()
	s := start(t, Options{NoAuth: true, Now: clock.Now})

	s.SetMCPOutage(Outage503, 30*time.Second)
	resp := mcpPost(t, s.MCPURL(), "", "")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("during 503 outage: %d", resp.StatusCode)
	}
	clock.Advance(30 * time.Second)
	if resp := mcpPost(t, s.MCPURL(), "", ""); resp.StatusCode != 200 {
		t.Fatalf("after the outage: %d", resp.StatusCode)
	}

	s.SetMCPOutage(OutageDrop, 0)
	for _, u := range []string{s.MCPURL(), s.SSEURL()} {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("%s answered %d during a drop outage", u, resp.StatusCode)
		}
	}
	clock.Advance(time.Hour) // an open-ended outage ignores the clock
	if _, err := http.Post(s.MCPURL(), "application/json", strings.NewReader("{}")); err == nil {
		t.Fatal("open-ended drop outage ended by itself")
	}
	s.SetMCPOutage(OutageNone, 0)
	if resp := mcpPost(t, s.MCPURL(), "", ""); resp.StatusCode != 200 {
		t.Fatalf("after clearing the outage: %d", resp.StatusCode)
	}
	if got := s.Stats().MCPOutageAnswers; got != 4 {
		t.Fatalf("outage answers = %d, want 4", got)
	}
}

func TestRevokeAllForcesNewLogin(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	a, b := login(t, s, c, "mcp"), login(t, s, c, "mcp")
	s.RevokeAll()
	for _, tok := range []map[string]any{a, b} {
		if resp := mcpPost(t, s.MCPURL(), tok["access_token"].(string), ""); resp.StatusCode != 401 {
			t.Fatalf("access token survived RevokeAll: %d", resp.StatusCode)
		}
		if st, body := refresh(t, s, c, tok["refresh_token"].(string)); st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("refresh after RevokeAll: %d %v", st, body)
		}
	}
	fresh := login(t, s, c, "mcp")
	if resp := mcpPost(t, s.MCPURL(), fresh["access_token"].(string), ""); resp.StatusCode != 200 {
		t.Fatalf("new login after RevokeAll: %d", resp.StatusCode)
	}
}

func TestReset(t *testing.T) {
	s := start(t, Options{AutoApprove: true, Clients: map[string]string{"pre": "pre-secret"}})
	c := register(t, s, "none")
	tok := login(t, s, c, "mcp")
	s.FailNextTokenRequests(5, Fault{Kind: FaultServerError})
	s.SetMCPOutage(Outage503, 0)
	issued := len(s.IssuedSecrets())

	s.Reset()
	if st := s.Stats(); st.Registrations != 0 || st.Authorizations != 0 || len(st.TokenRequests) != 0 {
		t.Fatalf("stats after reset %+v", st)
	}
	if resp := mcpPost(t, s.MCPURL(), tok["access_token"].(string), ""); resp.StatusCode != 401 {
		t.Fatalf("token or outage survived reset: %d", resp.StatusCode)
	}
	if status, body, _ := tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); status != 401 {
		t.Fatalf("registered client survived reset (or a fault did): %d %v", status, body)
	}
	login(t, s, testClient{id: "pre", secret: "pre-secret", method: "client_secret_basic", redirect: testRedirect}, "mcp")
	if len(s.IssuedSecrets()) <= issued {
		t.Fatal("reset forgot issued secrets")
	}
}

func TestAdminEndpoints(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	tok := login(t, s, c, "mcp")
	admin := func(method, path string) (int, []byte) {
		req, _ := http.NewRequest(method, s.URL()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, _ := admin("POST", "/admin/fail-token?n=1&fault=503&retry_after=4s"); st != 204 {
		t.Fatalf("fail-token: %d", st)
	}
	if st, _, h := tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}); st != 503 || h.Get("Retry-After") != "4" {
		t.Fatalf("scripted 503: %d %q", st, h.Get("Retry-After"))
	}
	for _, bad := range []string{"/admin/fail-token?fault=teapot", "/admin/fail-token?fault=slow&delay=soon", "/admin/mcp-outage?mode=fire"} {
		if st, _ := admin("POST", bad); st != 400 {
			t.Errorf("POST %s: %d, want 400", bad, st)
		}
	}
	st, raw := admin("GET", "/admin/stats")
	var stats Stats
	if st != 200 || json.Unmarshal(raw, &stats) != nil || stats.TokenFaultsInjected != 1 || stats.Registrations != 1 {
		t.Fatalf("stats: %d %s", st, raw)
	}
	st, raw = admin("GET", "/admin/issued")
	var issued []string
	if st != 200 || json.Unmarshal(raw, &issued) != nil || !contains(issued, tok["access_token"].(string)) || !contains(issued, tok["refresh_token"].(string)) {
		t.Fatalf("issued: %d %s", st, raw)
	}
	if st, _ := admin("POST", "/admin/mcp-outage?mode=503&for=1h"); st != 204 {
		t.Fatal("mcp-outage")
	}
	if resp := mcpPost(t, s.MCPURL(), tok["access_token"].(string), ""); resp.StatusCode != 503 {
		t.Fatalf("scripted MCP outage: %d", resp.StatusCode)
	}
	if st, _ := admin("POST", "/admin/mcp-outage?mode=none"); st != 204 {
		t.Fatal("mcp-outage none")
	}
	if st, _ := admin("POST", "/admin/revoke-all"); st != 204 {
		t.Fatal("revoke-all")
	}
	if resp := mcpPost(t, s.MCPURL(), tok["access_token"].(string), ""); resp.StatusCode != 401 {
		t.Fatalf("after revoke-all: %d", resp.StatusCode)
	}
	if st, _ := admin("POST", "/admin/reset"); st != 204 || s.Stats().Registrations != 0 {
		t.Fatal("reset")
	}
	// Other hosts are refused.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/admin/issued", nil)
	req.RemoteAddr = "192.0.2.7:4000"
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("admin from a remote host: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	New(Options{AdminAnyHost: true}).Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("admin from a remote host with AdminAnyHost: %d", rec.Code)
	}
}

func contains(l []string, v string) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func TestTokenDelayShowsRacingRefreshes(t *testing.T) {
	s := start(t, Options{AutoApprove: true, TokenDelay: time.Hour, NoRotation: true})
	c := register(t, s, "none")
	// The code exchange would be delayed too, so plant a grant directly.
	s.mu.Lock()
	g := &grant{id: "g1", clientID: c.id, subject: "test-user", resource: s.issuerLocked() + "/mcp", scopes: []string{"mcp"}}
	s.grants[g.id] = g
	resp, err := s.issueTokensLocked(g, g.scopes, true)
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	ctx, release := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.Issuer()+"/token",
				strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {resp.RefreshToken}, "client_id": {c.id}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	eventually(t, "two refreshes in flight", func() bool { return s.Stats().MaxConcurrentRefreshes == 2 })
	release()
	wg.Wait()
}
