package oauthserver

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestPKCEExchange(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	tests := map[string]struct {
		verifier   func(good string) string
		wantStatus int
		wantError  string
	}{
		"right verifier":   {func(v string) string { return v }, http.StatusOK, ""},
		"wrong verifier":   {func(v string) string { return v + "x" }, http.StatusBadRequest, "invalid_grant"},
		"missing verifier": {func(string) string { return "" }, http.StatusBadRequest, "invalid_request"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, ch := pkcePair()
			code := getCode(t, s, c, authParams(s, c, ch))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect}}
			if cv := tc.verifier(v); cv != "" {
				form.Set("code_verifier", cv)
			}
			status, body, _ := tokenRequest(t, s, c, form)
			if status != tc.wantStatus || (tc.wantError != "" && body["error"] != tc.wantError) {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
			if tc.wantStatus == http.StatusOK && (body["access_token"] == nil || body["refresh_token"] == nil || body["token_type"] != "Bearer") {
				t.Fatalf("incomplete token response %v", body)
			}
		})
	}
}

func TestAuthorizeRedirectCarriesStateAndIssuer(t *testing.T) {
	s := start(t, Options{AutoApprove: true, IssuerPath: "/tenant1"})
	c := register(t, s, "none")
	_, ch := pkcePair()
	loc, err := s.FollowAuthorize(authURL(s, authParams(s, c, ch)))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Query().Get("state") != "st-123" || loc.Query().Get("iss") != s.Issuer() || loc.Host != "127.0.0.1:7777" {
		t.Fatalf("redirect %s lacks state or iss", loc.Redacted())
	}
}

func TestAuthorizeRejections(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	_, ch := pkcePair()
	tests := map[string]struct {
		edit func(url.Values)
		// page means the error is shown to the user, not redirected.
		page      bool
		wantError string
	}{
		"unknown client":           {edit: func(q url.Values) { q.Set("client_id", "nope") }, page: true},
		"unregistered redirect":    {edit: func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:7777/other") }, page: true},
		"other host redirect":      {edit: func(q url.Values) { q.Set("redirect_uri", "http://evil.example/callback") }, page: true},
		"missing redirect":         {edit: func(q url.Values) { q.Del("redirect_uri") }, page: true},
		"repeated parameter":       {edit: func(q url.Values) { q.Add("state", "again") }, page: true},
		"no PKCE":                  {edit: func(q url.Values) { q.Del("code_challenge") }, wantError: "invalid_request"},
		"plain PKCE":               {edit: func(q url.Values) { q.Set("code_challenge_method", "plain") }, wantError: "invalid_request"},
		"token response type":      {edit: func(q url.Values) { q.Set("response_type", "token") }, wantError: "unsupported_response_type"},
		"unknown scope":            {edit: func(q url.Values) { q.Set("scope", "mcp admin") }, wantError: "invalid_scope"},
		"unknown resource":         {edit: func(q url.Values) { q.Set("resource", "http://other.example/mcp") }, wantError: "invalid_target"},
		"loopback on another port": {edit: func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/callback") }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := authParams(s, c, ch)
			tc.edit(q)
			resp, err := noRedirect.Get(authURL(s, q))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.page {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("got %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			loc, err := resp.Location()
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("got %d, want a redirect", resp.StatusCode)
			}
			if got := loc.Query().Get("error"); got != tc.wantError {
				t.Fatalf("error = %q, want %q", got, tc.wantError)
			}
			if loc.Query().Get("state") != "st-123" || loc.Query().Get("iss") != s.Issuer() {
				t.Fatalf("error redirect %s lacks state or iss", loc.Redacted())
			}
			if tc.wantError == "" && loc.Query().Get("code") == "" {
				t.Fatal("no code")
			}
		})
	}
}

func TestCodeIsSingleUseAndReplayRevokesTheGrant(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "client_secret_basic")
	v, ch := pkcePair()
	code := getCode(t, s, c, authParams(s, c, ch))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect}}
	status, first, _ := tokenRequest(t, s, c, form)
	if status != http.StatusOK {
		t.Fatalf("first exchange: %d %v", status, first)
	}
	status, body, _ := tokenRequest(t, s, c, form)
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v, want invalid_grant", status, body)
	}
	if resp := mcpPost(t, s.MCPURL(), first["access_token"].(string), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("access token of a replayed code still works: %d", resp.StatusCode)
	}
	if status, body := refresh(t, s, c, first["refresh_token"].(string)); status != http.StatusBadRequest {
		t.Fatalf("refresh token of a replayed code still works: %d %v", status, body)
	}
	if s.Stats().CodeReuses != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

func TestCodeBindings(t *testing.T) {
	clock := newFakeClock()
	s := start(t, Options{AutoApprove: true, Now: clock.Now})
	c := register(t, s, "none")
	other := register(t, s, "none")
	tests := map[string]struct {
		edit   func(form url.Values) testClient
		before func()
	}{
		"other client":       {edit: func(url.Values) testClient { return other }},
		"other redirect_uri": {edit: func(f url.Values) testClient { f.Set("redirect_uri", "http://127.0.0.1:7778/callback"); return c }},
		"expired code":       {edit: func(url.Values) testClient { return c }, before: func() { clock.Advance(codeTTL) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, ch := pkcePair()
			code := getCode(t, s, c, authParams(s, c, ch))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect}}
			who := tc.edit(form)
			if tc.before != nil {
				tc.before()
			}
			status, body, _ := tokenRequest(t, s, who, form)
			if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("got %d %v, want invalid_grant", status, body)
			}
		})
	}
}

var consentIDRe = regexp.MustCompile(`name="consent_id" value="([^"]+)"`)

func TestConsentPage(t *testing.T) {
	s := start(t, Options{})
	c := register(t, s, "none")
	for _, decision := range []string{"approve", "deny"} {
		t.Run(decision, func(t *testing.T) {
			_, ch := pkcePair()
			u := authURL(s, authParams(s, c, ch))
			resp, err := noRedirect.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), ">Approve</button>") || !strings.Contains(string(page), ">Deny</button>") {
				t.Fatalf("no consent page: %d %s", resp.StatusCode, page)
			}
			id := consentIDRe.FindStringSubmatch(string(page))[1]
			resp, err = noRedirect.PostForm(u, url.Values{"consent_id": {id}, "decision": {decision}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("no redirect after %s: %d", decision, resp.StatusCode)
			}
			q := loc.Query()
			if decision == "approve" && (q.Get("code") == "" || q.Get("error") != "") {
				t.Fatalf("approve redirected to %s", loc.Redacted())
			}
			if decision == "deny" && (q.Get("error") != "access_denied" || q.Get("code") != "") {
				t.Fatalf("deny redirected to %s", loc.Redacted())
			}
			if q.Get("state") != "st-123" || q.Get("iss") != s.Issuer() {
				t.Fatalf("redirect %s lacks state or iss", loc.Redacted())
			}
			// The form is single use.
			resp, _ = noRedirect.PostForm(u, url.Values{"consent_id": {id}, "decision": {"approve"}})
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("second submission: %d", resp.StatusCode)
			}
		})
	}
	st := s.Stats()
	if st.Authorizations != 1 || st.Denials != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFollowAuthorizeDeny(t *testing.T) {
	s := start(t, Options{})
	c := register(t, s, "none")
	_, ch := pkcePair()
	loc, err := s.DenyAuthorize(authURL(s, authParams(s, c, ch)))
	if err != nil || loc.Query().Get("error") != "access_denied" {
		t.Fatalf("DenyAuthorize: %v %v", loc, err)
	}
	q := authParams(s, c, ch)
	q.Set("client_id", "unknown")
	if _, err := s.FollowAuthorize(authURL(s, q)); err == nil {
		t.Fatal("FollowAuthorize of an unknown client succeeded")
	}
}
