package oauthserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAccessTokenClaims(t *testing.T) {
	clock := newFakeClock()
	s := start(t, Options{AutoApprove: true, Now: clock.Now, AccessTokenTTL: 30 * time.Second})
	c := register(t, s, "client_secret_post")
	tok := login(t, s, c, "mcp profile")
	claims, err := s.signer.verify(tok["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	want := accessClaims{
		Issuer: s.Issuer(), Subject: "test-user", Audience: s.MCPURL(), Scope: "mcp profile", ClientID: c.id,
		Expiry: clock.Now().Add(30 * time.Second).Unix(), IssuedAt: clock.Now().Unix(), ID: claims.ID,
	}
	if claims != want || tok["expires_in"] != float64(30) || tok["scope"] != "mcp profile" {
		t.Fatalf("claims %+v, response %v; want %+v", claims, tok, want)
	}
	// A tampered payload must not verify.
	parts := strings.Split(tok["access_token"].(string), ".")
	parts[1] = b64.EncodeToString([]byte(`{"sub":"admin"}`))
	if _, err := s.signer.verify(strings.Join(parts, ".")); err == nil {
		t.Fatal("tampered token verified")
	}
}

// While a lifetime function is set, tokens live what it says at their issue (whole seconds, at
// least one); once it is cleared the TTL applies again.
func TestAccessTokensLiveWhatTheFunctionSays(t *testing.T) {
	clock := newFakeClock()
	s := start(t, Options{AutoApprove: true, Now: clock.Now, AccessTokenTTL: 30 * time.Second})
	c := register(t, s, "none")
	rt := login(t, s, c, "mcp")["refresh_token"].(string)
	due := clock.Now().Add(90 * time.Second)
	untilDue := func(now time.Time) time.Duration { return due.Sub(now) + 500*time.Millisecond }
	for _, tc := range []struct {
		name    string
		ttl     func(time.Time) time.Duration
		advance time.Duration // before the refresh
		want    float64       // expires_in
	}{
		{"set", untilDue, 0, 90},
		{"set, later", untilDue, 40 * time.Second, 50},
		{"at least a second", untilDue, 60 * time.Second, 1},
		{"cleared", nil, 0, 30},
	} {
		s.SetAccessTokenTTL(tc.ttl)
		clock.Advance(tc.advance)
		status, body := refresh(t, s, c, rt)
		if status != http.StatusOK {
			t.Fatalf("%s: refresh: %d %v", tc.name, status, body)
		}
		rt = body["refresh_token"].(string)
		claims, err := s.signer.verify(body["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if body["expires_in"] != tc.want || claims.Expiry != clock.Now().Unix()+int64(tc.want) {
			t.Errorf("%s: expires_in %v, exp %d s from now; want %v", tc.name, body["expires_in"], claims.Expiry-clock.Now().Unix(), tc.want)
		}
	}
}

func TestRefreshRotationAndReuseDetection(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "none")
	tok := login(t, s, c, "mcp")
	rt1 := tok["refresh_token"].(string)

	status, body := refresh(t, s, c, rt1)
	if status != http.StatusOK {
		t.Fatalf("first refresh: %d %v", status, body)
	}
	rt2 := body["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh token not rotated: %v", body)
	}
	status, body = refresh(t, s, c, rt2)
	if status != http.StatusOK {
		t.Fatalf("second refresh: %d %v", status, body)
	}
	rt3, at3 := body["refresh_token"].(string), body["access_token"].(string)

	// Replaying a rotated token is theft: invalid_grant, and the grant dies.
	if status, body = refresh(t, s, c, rt1); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", status, body)
	}
	if status, body = refresh(t, s, c, rt3); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("newest token survived reuse detection: %d %v", status, body)
	}
	if resp := mcpPost(t, s.MCPURL(), at3, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("newest access token survived reuse detection: %d", resp.StatusCode)
	}
	st := s.Stats()
	if st.Refreshes != 2 || st.RefreshReuseDetected != 1 || st.TokenRequests["refresh_token"] != 4 || st.TokenRequests["authorization_code"] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefreshReuseGrace(t *testing.T) {
	clock := newFakeClock()
	s := start(t, Options{AutoApprove: true, Now: clock.Now, RefreshReuseGrace: 10 * time.Second})
	c := register(t, s, "none")
	rt1 := login(t, s, c, "mcp")["refresh_token"].(string)
	_, body := refresh(t, s, c, rt1)
	rt2 := body["refresh_token"].(string)

	clock.Advance(5 * time.Second)
	status, body := refresh(t, s, c, rt1)
	if status != http.StatusOK || body["refresh_token"] != rt2 {
		t.Fatalf("replay within grace: %d %v, want the current token back", status, body)
	}
	clock.Advance(6 * time.Second)
	if status, body = refresh(t, s, c, rt1); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("replay after grace: %d %v", status, body)
	}
	if status, _ = refresh(t, s, c, rt2); status != http.StatusBadRequest {
		t.Fatal("grant survived reuse after the grace window")
	}
	if st := s.Stats(); st.RefreshReuseWithinGrace != 1 || st.RefreshReuseDetected != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefreshTokenOptions(t *testing.T) {
	t.Run("no rotation", func(t *testing.T) {
		s := start(t, Options{AutoApprove: true, NoRotation: true})
		c := register(t, s, "none")
		rt := login(t, s, c, "mcp")["refresh_token"].(string)
		for range 3 {
			status, body := refresh(t, s, c, rt)
			if status != http.StatusOK || body["refresh_token"] != nil {
				t.Fatalf("refresh: %d %v, want success and no new refresh token", status, body)
			}
		}
	})
	t.Run("no refresh token", func(t *testing.T) {
		s := start(t, Options{AutoApprove: true, NoRefreshToken: true})
		c := register(t, s, "none")
		if tok := login(t, s, c, "mcp offline_access"); tok["refresh_token"] != nil {
			t.Fatalf("got a refresh token: %v", tok)
		}
	})
	t.Run("refresh token expiry", func(t *testing.T) {
		clock := newFakeClock()
		s := start(t, Options{AutoApprove: true, Now: clock.Now, RefreshTokenTTL: time.Hour})
		c := register(t, s, "none")
		rt := login(t, s, c, "mcp")["refresh_token"].(string)
		clock.Advance(time.Hour)
		if status, body := refresh(t, s, c, rt); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("expired refresh token: %d %v", status, body)
		}
	})
	t.Run("narrower scope", func(t *testing.T) {
		s := start(t, Options{AutoApprove: true})
		c := register(t, s, "none")
		rt := login(t, s, c, "mcp profile")["refresh_token"].(string)
		status, body, _ := tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"mcp"}})
		if status != http.StatusOK || body["scope"] != "mcp" {
			t.Fatalf("down-scoped refresh: %d %v", status, body)
		}
		rt = body["refresh_token"].(string)
		status, body, _ = tokenRequest(t, s, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"mcp offline_access"}})
		if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Fatalf("widened refresh: %d %v", status, body)
		}
	})
}

func TestClientAuthentication(t *testing.T) {
	s := start(t, Options{AutoApprove: true, Clients: map[string]string{"pre": "pre-secret", "pub": ""}})
	basic := register(t, s, "client_secret_basic")
	post := register(t, s, "client_secret_post")
	public := register(t, s, "none")
	tests := map[string]struct {
		as         testClient // who runs the flow (gets the code)
		presentAs  testClient // credentials the token request carries
		wantStatus int
		wantError  string
	}{
		"basic":                                {basic, basic, 200, ""},
		"post":                                 {post, post, 200, ""},
		"none":                                 {public, public, 200, ""},
		"pre-registered basic":                 {testClient{id: "pre", secret: "pre-secret", method: "client_secret_basic", redirect: "http://127.0.0.1:5555/cb"}, testClient{id: "pre", secret: "pre-secret", method: "client_secret_basic", redirect: "http://127.0.0.1:5555/cb"}, 200, ""},
		"pre-registered post":                  {testClient{id: "pre", secret: "pre-secret", method: "client_secret_post", redirect: "http://localhost:5555/cb"}, testClient{id: "pre", secret: "pre-secret", method: "client_secret_post", redirect: "http://localhost:5555/cb"}, 200, ""},
		"pre-registered public":                {testClient{id: "pub", method: "none", redirect: "http://[::1]:1/cb"}, testClient{id: "pub", method: "none", redirect: "http://[::1]:1/cb"}, 200, ""},
		"public as basic with an empty secret": {public, testClient{id: public.id, method: "client_secret_basic", redirect: public.redirect}, 200, ""},
		"confidential with an empty secret":    {basic, testClient{id: basic.id, method: "client_secret_basic", redirect: basic.redirect}, 401, "invalid_client"},
		"wrong secret":                         {basic, testClient{id: basic.id, secret: "wrong", method: "client_secret_basic", redirect: basic.redirect}, 401, "invalid_client"},
		"registered method only":               {basic, testClient{id: basic.id, secret: basic.secret, method: "client_secret_post", redirect: basic.redirect}, 401, "invalid_client"},
		"confidential as public":               {post, testClient{id: post.id, method: "none", redirect: post.redirect}, 401, "invalid_client"},
		"public with a secret":                 {public, testClient{id: public.id, secret: "x", method: "client_secret_post", redirect: public.redirect}, 401, "invalid_client"},
		"unknown client":                       {public, testClient{id: "ghost", method: "none", redirect: public.redirect}, 401, "invalid_client"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, ch := pkcePair()
			code := getCode(t, s, tc.as, authParams(s, tc.as, ch))
			status, body, hdr := tokenRequest(t, s, tc.presentAs, url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {tc.as.redirect},
			})
			if status != tc.wantStatus || (tc.wantError != "" && body["error"] != tc.wantError) {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
			if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("401 without a Basic challenge: %q", hdr.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestTokenRequestErrors(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "client_secret_basic")
	tests := map[string]struct {
		form      url.Values
		both      bool // also send the secret in the body
		wantError string
	}{
		"unsupported grant type": {form: url.Values{"grant_type": {"password"}}, wantError: "unsupported_grant_type"},
		"client_credentials":     {form: url.Values{"grant_type": {"client_credentials"}}, wantError: "unsupported_grant_type"},
		"missing grant type":     {form: url.Values{}, wantError: "invalid_request"},
		"missing code":           {form: url.Values{"grant_type": {"authorization_code"}}, wantError: "invalid_request"},
		"unknown refresh token":  {form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_nope"}}, wantError: "invalid_grant"},
		"missing refresh token":  {form: url.Values{"grant_type": {"refresh_token"}}, wantError: "invalid_request"},
		"two auth methods":       {form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, both: true, wantError: "invalid_request"},
		"repeated parameter":     {form: url.Values{"grant_type": {"refresh_token", "refresh_token"}}, wantError: "invalid_request"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.both {
				tc.form.Set("client_secret", c.secret)
			}
			status, body, hdr := tokenRequest(t, s, c, tc.form)
			if status != http.StatusBadRequest || body["error"] != tc.wantError {
				t.Fatalf("got %d %v, want 400 %s", status, body, tc.wantError)
			}
			if hdr.Get("Cache-Control") != "no-store" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("headers %v", hdr)
			}
		})
	}
	if got := s.Stats().TokenRequests; !slices.Contains([]int{1}, got["password"]) {
		t.Fatalf("token requests by grant type: %v", got)
	}
}
