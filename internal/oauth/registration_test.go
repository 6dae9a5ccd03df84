package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// registrar serves a registration endpoint that records the request and answers with resp.
func registrar(t *testing.T, status int, resp map[string]any) (*recorder, *map[string]any) {
	t.Helper()
	r := newRecorder(t)
	var got map[string]any
	r.handle("/register", func(w http.ResponseWriter, req *http.Request) {
		_ = json.NewDecoder(req.Body).Decode(&got)
		jsonHandler(status, resp)(w, req)
	})
	return r, &got
}

func discoveryFor(base string, mutate func(*AuthServerMetadata)) *Discovery {
	md := AuthServerMetadata{Issuer: base, AuthorizationEndpoint: base + "/authorize", TokenEndpoint: base + "/token",
		RegistrationEndpoint: base + "/register", CodeChallengeMethodsSupported: []string{"S256"}}
	if mutate != nil {
		mutate(&md)
	}
	return &Discovery{Issuer: base, Resource: base + "/mcp", Metadata: md, Scopes: []string{"mcp"}}
}

func TestEnsureClientDynamicRegistration(t *testing.T) {
	tests := map[string]struct {
		supported  []string
		resp       map[string]any
		wantMethod string // requested
		wantAuth   string // resulting
	}{
		"public client by default": {
			resp: map[string]any{"client_id": "c1"}, wantMethod: "none", wantAuth: AuthMethodNone},
		"server requires client_secret_post": {
			supported: []string{"client_secret_post"}, wantMethod: "client_secret_post", wantAuth: AuthMethodPost,
			resp: map[string]any{"client_id": "c2", "client_secret": "sec-ret-2", "token_endpoint_auth_method": "client_secret_post"}},
		"server returns a secret without a method": {
			supported: []string{"client_secret_basic"}, wantMethod: "client_secret_basic", wantAuth: AuthMethodBasic,
			resp: map[string]any{"client_id": "c3", "client_secret": "sec-ret-3"}},
		"jwks object and numeric id tolerated": {
			resp:       map[string]any{"client_id": 42, "jwks": map[string]any{"keys": []any{}}, "client_id_issued_at": "1"},
			wantMethod: "none", wantAuth: AuthMethodNone},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, got := registrar(t, http.StatusCreated, tc.resp)
			d := discoveryFor(r.URL, func(m *AuthServerMetadata) { m.TokenEndpointAuthMethodsSupported = tc.supported })
			reg, err := EnsureClient(context.Background(), Config{}, d, nil, "http://127.0.0.1:5555/callback")
			if err != nil {
				t.Fatal(err)
			}
			req := *got
			if req["application_type"] != "native" || req["token_endpoint_auth_method"] != tc.wantMethod || req["scope"] != "mcp" {
				t.Fatalf("registration request = %v", req)
			}
			grants, _ := req["grant_types"].([]any)
			if len(grants) != 2 || grants[1] != "refresh_token" {
				t.Fatalf("grant_types = %v", req["grant_types"])
			}
			if reg.AuthMethod != tc.wantAuth || reg.Source != SourceDynamic || reg.Issuer != r.URL ||
				reg.RedirectURI != "http://127.0.0.1:5555/callback" {
				t.Fatalf("registration = %+v", reg)
			}
		})
	}
}

func TestEnsureClientPriority(t *testing.T) {
	r, _ := registrar(t, http.StatusCreated, map[string]any{"client_id": "dyn"})
	d := discoveryFor(r.URL, func(m *AuthServerMetadata) { m.ClientIDMetadataDocumentSupported = true })
	const redirect = "http://127.0.0.1:5555/callback"
	ctx := context.Background()

	reg, err := EnsureClient(ctx, Config{ClientID: "pre", ClientMetadataURL: "https://app.example/client.json"}, d, nil, redirect)
	if err != nil || reg.ClientID != "pre" || reg.Source != SourcePreregistered || reg.AuthMethod != AuthMethodNone {
		t.Fatalf("pre-registered: %+v, %v", reg, err)
	}
	reg, err = EnsureClient(ctx, Config{ClientMetadataURL: "https://app.example/client.json"}, d, nil, redirect)
	if err != nil || reg.ClientID != "https://app.example/client.json" || reg.Source != SourceMetadataDocument {
		t.Fatalf("metadata document: %+v, %v", reg, err)
	}
	if _, err := EnsureClient(ctx, Config{ClientMetadataURL: "http://app.example/client.json"}, d, nil, redirect); !errors.Is(err, ErrNoClientID) {
		t.Fatalf("non-https metadata document URL: %v", err)
	}
	existing := &ClientRegistration{ClientID: "old", Issuer: r.URL, RedirectURI: redirect, Source: SourceDynamic}
	reg, err = EnsureClient(ctx, Config{}, d, existing, redirect)
	if err != nil || reg.ClientID != "old" {
		t.Fatalf("existing: %+v, %v", reg, err)
	}
	reg, err = EnsureClient(ctx, Config{}, d, &ClientRegistration{ClientID: "old", Issuer: "https://other"}, redirect)
	if err != nil || reg.ClientID != "dyn" {
		t.Fatalf("other issuer must register anew: %+v, %v", reg, err)
	}
	d.Metadata.ClientIDMetadataDocumentSupported = false
	reg, err = EnsureClient(ctx, Config{ClientMetadataURL: "https://app.example/client.json"}, d, nil, redirect)
	if err != nil || reg.ClientID != "dyn" {
		t.Fatalf("unsupported metadata document falls back to registration: %+v, %v", reg, err)
	}
	d.Metadata.RegistrationEndpoint = ""
	if _, err := EnsureClient(ctx, Config{}, d, nil, redirect); !errors.Is(err, ErrNoClientID) {
		t.Fatalf("no way to get a client: %v", err)
	}
}

func TestEnsureClientRegistrationErrors(t *testing.T) {
	r, _ := registrar(t, http.StatusBadRequest, map[string]any{"error": "invalid_redirect_uri", "error_description": "nope"})
	_, err := EnsureClient(context.Background(), Config{}, discoveryFor(r.URL, nil), nil, "http://127.0.0.1:1/callback")
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != "invalid_redirect_uri" || oe.Status != 400 {
		t.Fatalf("err = %v", err)
	}
	legacy := discoveryFor(r.URL, func(m *AuthServerMetadata) { m.RegistrationEndpoint = r.URL + "/missing" })
	legacy.Legacy = true
	if _, err := EnsureClient(context.Background(), Config{}, legacy, nil, "http://127.0.0.1:1/callback"); !errors.Is(err, ErrNoClientID) {
		t.Fatalf("legacy /register 404: err = %v, want ErrNoClientID", err)
	}
}

func TestPickAuthMethod(t *testing.T) {
	tests := []struct {
		supported []string
		secret    bool
		want      string
	}{
		{nil, true, AuthMethodBasic},
		{[]string{"client_secret_post"}, true, AuthMethodPost},
		{[]string{"client_secret_post", "client_secret_basic"}, true, AuthMethodBasic},
		{[]string{"client_secret_basic"}, false, AuthMethodNone},
	}
	for _, tc := range tests {
		if got := pickAuthMethod(tc.supported, tc.secret); got != tc.want {
			t.Errorf("pickAuthMethod(%v, %v) = %s, want %s", tc.supported, tc.secret, got, tc.want)
		}
	}
}

func TestTokenEndpointClientAuth(t *testing.T) {
	type seen struct {
		auth string
		form url.Values
	}
	var got seen
	r := newRecorder(t)
	r.handle("/token", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		got = seen{auth: req.Header.Get("Authorization"), form: req.PostForm}
		jsonHandler(200, map[string]any{"access_token": "at-xyz-1", "token_type": "Bearer"})(w, req)
	})
	client := ClientRegistration{ClientID: "id:with/odd chars", ClientSecret: "sec ret&+"}
	for _, method := range []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone} {
		c := client
		c.AuthMethod = method
		if method == AuthMethodNone {
			c.ClientSecret = ""
		}
		_, err := Refresh(context.Background(), RefreshRequest{TokenEndpoint: r.URL + "/token", Client: c, RefreshToken: "rt-abc-1"})
		if err != nil {
			t.Fatal(err)
		}
		switch method {
		case AuthMethodBasic:
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret)))
			if got.auth != want || got.form.Has("client_secret") || got.form.Has("client_id") {
				t.Errorf("basic: auth %q form %v", got.auth, got.form)
			}
		case AuthMethodPost:
			if got.auth != "" || got.form.Get("client_id") != c.ClientID || got.form.Get("client_secret") != c.ClientSecret {
				t.Errorf("post: auth %q form %v", got.auth, got.form)
			}
		case AuthMethodNone:
			if got.auth != "" || got.form.Get("client_id") != c.ClientID || got.form.Has("client_secret") {
				t.Errorf("none: auth %q form %v", got.auth, got.form)
			}
		}
	}
}
