package oauthserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// TestMetadataLocations checks where each document is, and is not, served.
func TestMetadataLocations(t *testing.T) {
	tests := map[string]struct {
		opts     Options
		found    []string // paths that must answer 200
		notFound []string // paths that must answer 404
	}{
		"root issuer, PRM at path": {
			opts:     Options{},
			found:    []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/sse"},
			notFound: []string{"/.well-known/oauth-protected-resource"},
		},
		"issuer path": {
			opts:     Options{IssuerPath: "/tenant1"},
			found:    []string{"/.well-known/oauth-authorization-server/tenant1", "/.well-known/openid-configuration/tenant1"},
			notFound: []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/tenant1/.well-known/openid-configuration"},
		},
		"PRM at root": {
			opts:     Options{PRMMode: PRMRoot},
			found:    []string{"/.well-known/oauth-protected-resource"},
			notFound: []string{"/.well-known/oauth-protected-resource/mcp"},
		},
		"PRM only by header": {
			opts:     Options{PRMMode: PRMHeaderOnly},
			found:    []string{"/oauth/protected-resource/mcp"},
			notFound: []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"},
		},
		"no DCR": {
			opts:     Options{NoDCR: true},
			notFound: []string{"/register"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := start(t, tc.opts)
			for _, p := range tc.found {
				resp, err := http.Get(s.URL() + p)
				if err != nil {
					t.Fatal(err)
				}
				body := decode(t, resp)
				if resp.StatusCode != 200 {
					t.Errorf("GET %s: %d", p, resp.StatusCode)
				}
				if iss, ok := body["issuer"]; ok && iss != s.Issuer() {
					t.Errorf("GET %s: issuer %v, want %s", p, iss, s.Issuer())
				}
			}
			for _, p := range tc.notFound {
				method := http.MethodGet
				if p == "/register" {
					method = http.MethodPost
				}
				req, _ := http.NewRequest(method, s.Issuer()+p, nil)
				if p != "/register" {
					req, _ = http.NewRequest(method, s.URL()+p, nil)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s %s: %d, want 404", method, p, resp.StatusCode)
				}
			}
		})
	}
}

func TestAuthorizationServerMetadata(t *testing.T) {
	s := start(t, Options{IssuerPath: "/tenant1"})
	resp, err := http.Get(s.URL() + "/.well-known/oauth-authorization-server/tenant1")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, resp)
	want := map[string]any{
		"issuer":                 s.Issuer(),
		"authorization_endpoint": s.Issuer() + "/authorize",
		"token_endpoint":         s.Issuer() + "/token",
		"registration_endpoint":  s.Issuer() + "/register",
		"revocation_endpoint":    s.Issuer() + "/revoke",
		"authorization_response_iss_parameter_supported": true,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for k, v := range map[string]string{"code_challenge_methods_supported": "[S256]", "scopes_supported": "[mcp profile offline_access]",
		"token_endpoint_auth_methods_supported": "[client_secret_basic client_secret_post none]"} {
		if got := fmtList(m[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	if _, ok := New(Options{NoDCR: true}).Metadata()["registration_endpoint"]; ok {
		t.Error("registration_endpoint advertised with DCR off")
	}
}

func fmtList(v any) string {
	l, _ := v.([]any)
	out := "["
	for i, x := range l {
		if i > 0 {
			out += " "
		}
		out += x.(string)
	}
	return out + "]"
}

// TestDiscoveryWithSDKClient logs in with the official SDK's OAuth client
// against every discovery layout, proving each path is complete and
// consistent (resource, issuer, iss, audience).
func TestDiscoveryWithSDKClient(t *testing.T) {
	tests := map[string]Options{
		"defaults":                 {},
		"issuer path":              {IssuerPath: "/tenant1"},
		"PRM path, header hidden":  {HideResourceMetadata: true, IssuerPath: "/a/b"},
		"PRM at root":              {PRMMode: PRMRoot},
		"PRM at root, hidden":      {PRMMode: PRMRoot, HideResourceMetadata: true},
		"PRM only by header":       {PRMMode: PRMHeaderOnly, IssuerPath: "/tenant1"},
		"pre-registered, no DCR":   {NoDCR: true, Clients: map[string]string{"pre": "s3cret"}},
		"consent page approved":    {AutoApprove: false},
		"confidential DCR clients": {},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			if name != "consent page approved" {
				opts.AutoApprove = true
			}
			s := start(t, opts)
			cfg := &auth.AuthorizationCodeHandlerConfig{
				RedirectURL: testRedirect,
				AuthorizationCodeFetcher: func(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
					loc, err := s.FollowAuthorize(args.URL)
					if err != nil {
						return nil, err
					}
					q := loc.Query()
					return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
				},
				RequestRefreshToken: true,
			}
			method := "none"
			if name == "confidential DCR clients" {
				method = "client_secret_post"
			}
			if opts.NoDCR {
				cfg.PreregisteredClient = &oauthex.ClientCredentials{ClientID: "pre", ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: "s3cret"}}
			} else {
				cfg.DynamicClientRegistrationConfig = &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
					RedirectURIs: []string{testRedirect}, TokenEndpointAuthMethod: method,
					GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
				}}
			}
			h, err := auth.NewAuthorizationCodeHandler(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "sdk", Version: "v1"}, nil).Connect(ctx,
				&mcp.StreamableClientTransport{Endpoint: s.MCPURL(), OAuthHandler: h, MaxRetries: -1}, nil)
			if err != nil {
				t.Fatalf("connect with OAuth: %v", err)
			}
			defer cs.Close()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "discovered"}})
			if err != nil || res.Content[0].(*mcp.TextContent).Text != "discovered" {
				t.Fatalf("echo after login: %v", err)
			}
			if st := s.Stats(); st.Authorizations != 1 || st.MCPValidToken == 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestStepUpWithSDKClient shows the 403 insufficient_scope challenge is
// usable: the SDK's client logs in with scope mcp, is refused whoami, asks
// for the scopes the challenge names, and succeeds.
func TestStepUpWithSDKClient(t *testing.T) {
	s := start(t, Options{AutoApprove: true})
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		RedirectURL: testRedirect,
		AuthorizationCodeFetcher: func(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc, err := s.FollowAuthorize(args.URL)
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{testRedirect}, TokenEndpointAuthMethod: "none",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "sdk", Version: "v1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: s.MCPURL(), OAuthHandler: h, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("whoami after step-up: %v %+v", err, res)
	}
	if st := s.Stats(); st.Authorizations != 2 || st.MCPInsufficientScope != 1 {
		t.Fatalf("want one step-up login after one 403: %+v", st)
	}
}

// TestBaseURL serves Handler without Start, under an external name.
func TestBaseURL(t *testing.T) {
	s := New(Options{BaseURL: "http://oauth.example:9000/", IssuerPath: "t1", PRMMode: PRMRoot})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/openid-configuration/t1", nil))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["issuer"] != "http://oauth.example:9000/t1" {
		t.Fatalf("metadata %d %s", rec.Code, rec.Body)
	}
	if s.Resource() != "http://oauth.example:9000" || s.MCPURL() != "http://oauth.example:9000/mcp" {
		t.Fatalf("Resource %s MCPURL %s", s.Resource(), s.MCPURL())
	}
}
