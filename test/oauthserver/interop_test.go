package oauthserver

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestWithXOAuth2 runs the flow with golang.org/x/oauth2, which most Go
// clients use, and checks that auth-style auto-detection costs no extra
// token requests for public and basic clients.
func TestWithXOAuth2(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	for _, method := range []string{"none", "client_secret_basic"} {
		t.Run(method, func(t *testing.T) {
			c := register(t, s, method)
			before := s.Stats().TokenRequests
			cfg := &oauth2.Config{
				ClientID: c.id, ClientSecret: c.secret, RedirectURL: c.redirect, Scopes: []string{"mcp"},
				Endpoint: oauth2.Endpoint{AuthURL: s.Issuer() + "/authorize", TokenURL: s.Issuer() + "/token"},
			}
			v := oauth2.GenerateVerifier()
			loc, err := s.FollowAuthorize(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", s.MCPURL())))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			tok.Expiry = time.Now().Add(-time.Minute) // make the token source refresh
			fresh, err := cfg.TokenSource(ctx, tok).Token()
			if err != nil || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
				t.Fatalf("refresh: %v", err)
			}
			if resp := mcpPost(t, s.MCPURL(), fresh.AccessToken, ""); resp.StatusCode != 200 {
				t.Fatalf("MCP with the refreshed token: %d", resp.StatusCode)
			}
			after := s.Stats().TokenRequests
			if after["authorization_code"]-before["authorization_code"] != 1 || after["refresh_token"]-before["refresh_token"] != 1 {
				t.Fatalf("token requests went from %v to %v", before, after)
			}
		})
	}
}
