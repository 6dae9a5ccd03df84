package oauthserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestDynamicClientRegistration(t *testing.T) {
	s := start(t, Options{})
	tests := map[string]struct {
		meta       map[string]any
		wantStatus int
		wantError  string
		wantSecret bool
	}{
		"public":            {meta: map[string]any{"redirect_uris": []string{testRedirect}, "token_endpoint_auth_method": "none"}, wantStatus: 201},
		"confidential post": {meta: map[string]any{"redirect_uris": []string{testRedirect}, "token_endpoint_auth_method": "client_secret_post"}, wantStatus: 201, wantSecret: true},
		"default is basic":  {meta: map[string]any{"redirect_uris": []string{testRedirect}}, wantStatus: 201, wantSecret: true},
		"no redirect URIs":  {meta: map[string]any{"client_name": "x"}, wantStatus: 400, wantError: "invalid_redirect_uri"},
		"relative redirect": {meta: map[string]any{"redirect_uris": []string{"/cb"}}, wantStatus: 400, wantError: "invalid_redirect_uri"},
		"unknown method":    {meta: map[string]any{"redirect_uris": []string{testRedirect}, "token_endpoint_auth_method": "private_key_jwt"}, wantStatus: 400, wantError: "invalid_client_metadata"},
		"implicit grant":    {meta: map[string]any{"redirect_uris": []string{testRedirect}, "grant_types": []string{"implicit"}}, wantStatus: 400, wantError: "invalid_client_metadata"},
		"unknown scope":     {meta: map[string]any{"redirect_uris": []string{testRedirect}, "scope": "root"}, wantStatus: 400, wantError: "invalid_client_metadata"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, body := postJSON(t, s.Issuer()+"/register", tc.meta)
			if status != tc.wantStatus || (tc.wantError != "" && body["error"] != tc.wantError) {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
			if status != 201 {
				return
			}
			_, hasSecret := body["client_secret"]
			if body["client_id"] == "" || hasSecret != tc.wantSecret || body["redirect_uris"] == nil || body["token_endpoint_auth_method"] == "" {
				t.Fatalf("registration response %v", body)
			}
		})
	}
	resp, err := http.Post(s.Issuer()+"/register", "text/plain", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body.Close(); resp.StatusCode != 400 {
		t.Fatalf("non-JSON registration: %d", resp.StatusCode)
	}
	if got := s.Stats().Registrations; got != 3 {
		t.Fatalf("registrations = %d, want 3", got)
	}
}

func TestDCRDisabled(t *testing.T) {
	s := start(t, Options{NoDCR: true, AutoApprove: true, Clients: map[string]string{"app": "app-secret"}})
	if status, _ := postJSON(t, s.Issuer()+"/register", map[string]any{"redirect_uris": []string{testRedirect}}); status != http.StatusNotFound {
		t.Fatalf("register with DCR off: %d", status)
	}
	// The pre-registered client still logs in.
	login(t, s, testClient{id: "app", secret: "app-secret", method: "client_secret_basic", redirect: testRedirect}, "mcp")
}

func revokeRequest(t *testing.T, s *Server, c testClient, token string) int {
	t.Helper()
	form := url.Values{"token": {token}}
	if c.method != "client_secret_basic" {
		form.Set("client_id", c.id)
		if c.secret != "" {
			form.Set("client_secret", c.secret)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.Issuer()+"/revoke", strings.NewReader(form.Encode()))
	if c.method == "client_secret_basic" {
		req.SetBasicAuth(c.id, c.secret)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRevocation(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	c := register(t, s, "client_secret_basic")
	other := register(t, s, "none")

	t.Run("refresh token kills the grant", func(t *testing.T) {
		tok := login(t, s, c, "mcp")
		if st := revokeRequest(t, s, c, tok["refresh_token"].(string)); st != 200 {
			t.Fatalf("revoke: %d", st)
		}
		if st, _ := refresh(t, s, c, tok["refresh_token"].(string)); st != 400 {
			t.Fatalf("refresh after revoke: %d", st)
		}
		if resp := mcpPost(t, s.MCPURL(), tok["access_token"].(string), ""); resp.StatusCode != 401 {
			t.Fatalf("access token after revoking its grant: %d", resp.StatusCode)
		}
	})
	t.Run("access token only", func(t *testing.T) {
		tok := login(t, s, c, "mcp")
		if st := revokeRequest(t, s, c, tok["access_token"].(string)); st != 200 {
			t.Fatalf("revoke: %d", st)
		}
		if resp := mcpPost(t, s.MCPURL(), tok["access_token"].(string), ""); resp.StatusCode != 401 {
			t.Fatalf("revoked access token: %d", resp.StatusCode)
		}
		if st, _ := refresh(t, s, c, tok["refresh_token"].(string)); st != 200 {
			t.Fatalf("refresh token died with its access token: %d", st)
		}
	})
	t.Run("unknown and foreign tokens", func(t *testing.T) {
		tok := login(t, s, c, "mcp")
		if st := revokeRequest(t, s, other, tok["refresh_token"].(string)); st != 200 {
			t.Fatalf("foreign revoke: %d", st)
		}
		if st, _ := refresh(t, s, c, tok["refresh_token"].(string)); st != 200 {
			t.Fatal("another client revoked a token")
		}
		if st := revokeRequest(t, s, c, "nonsense"); st != 200 {
			t.Fatalf("unknown token: %d", st)
		}
	})
	t.Run("client must authenticate", func(t *testing.T) {
		if st := revokeRequest(t, s, testClient{id: c.id, secret: "wrong", method: "client_secret_basic"}, "x"); st != 401 {
			t.Fatalf("bad credentials: %d", st)
		}
	})
}
