package oauth

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

func TestDiscoverAgainstOAuthServer(t *testing.T) {
	tests := map[string]oauthserver.Options{
		"path-inserted PRM from well-known": {HideResourceMetadata: true},
		"root PRM from well-known":          {PRMMode: oauthserver.PRMRoot, HideResourceMetadata: true},
		"PRM from header only":              {PRMMode: oauthserver.PRMHeaderOnly},
		"PRM from header":                   {},
		"issuer with path":                  {IssuerPath: "/tenant1"},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startAS(t, opts)
			d, err := Discover(context.Background(), Config{ServerURL: srv.MCPURL()})
			if err != nil {
				t.Fatal(err)
			}
			wantResource := srv.MCPURL()
			if opts.PRMMode == oauthserver.PRMRoot {
				wantResource = srv.URL() // the root document describes the origin (RFC 9728 §3.3)
			}
			if d.NoAuthRequired || d.Legacy || d.Issuer != srv.Issuer() || d.Resource != wantResource {
				t.Fatalf("discovery = %+v", d)
			}
			if d.Metadata.TokenEndpoint != srv.Issuer()+"/token" || !d.Metadata.ISSParameterSupported {
				t.Fatalf("metadata = %+v", d.Metadata)
			}
			if want := []string{"mcp", "offline_access"}; !reflect.DeepEqual(d.Scopes, want) {
				t.Fatalf("scopes = %v, want %v (challenge scope plus offline_access)", d.Scopes, want)
			}
		})
	}
}

func TestDiscoverNoAuthRequired(t *testing.T) {
	srv := startAS(t, oauthserver.Options{NoAuth: true})
	d, err := Discover(context.Background(), Config{ServerURL: srv.MCPURL()})
	if err != nil || !d.NoAuthRequired {
		t.Fatalf("Discover = %+v, %v", d, err)
	}
	if _, err := Login(context.Background(), Config{ServerURL: srv.MCPURL()}, LoginOptions{}); !errors.Is(err, ErrNoAuthRequired) {
		t.Fatalf("Login err = %v, want ErrNoAuthRequired", err)
	}
}

func TestDiscoverOrderAndLegacyFallback(t *testing.T) {
	r := newRecorder(t)
	r.handle("/public/mcp", challenge401(`Bearer realm="x"`))
	d, err := Discover(context.Background(), Config{ServerURL: r.URL + "/public/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/public/mcp",
		"/.well-known/oauth-protected-resource/public/mcp", "/.well-known/oauth-protected-resource",
		"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}
	if got := r.requested(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requested %v\nwant %v", got, want)
	}
	if !d.Legacy || d.Issuer != r.URL || d.Metadata.AuthorizationEndpoint != r.URL+"/authorize" ||
		d.Metadata.TokenEndpoint != r.URL+"/token" || d.Metadata.RegistrationEndpoint != r.URL+"/register" {
		t.Fatalf("legacy discovery = %+v", d)
	}
}

func TestDiscoverIssuerPathOrder(t *testing.T) {
	r := newRecorder(t)
	issuer := r.URL + "/tenant1"
	r.handle("/mcp", challenge401(`Bearer resource_metadata="`+r.URL+`/prm"`))
	r.json("/prm", map[string]any{"resource": r.URL + "/mcp", "authorization_servers": []string{issuer}})
	r.json("/tenant1/.well-known/openid-configuration", asDoc(issuer))
	d, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/mcp", "/prm", "/.well-known/oauth-authorization-server/tenant1",
		"/.well-known/openid-configuration/tenant1", "/tenant1/.well-known/openid-configuration"}
	if got := r.requested(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requested %v\nwant %v", got, want)
	}
	if d.Issuer != issuer || d.ResourceMetadataURL != r.URL+"/prm" {
		t.Fatalf("discovery = %+v", d)
	}
}

func TestDiscoverOIDCAtRoot(t *testing.T) {
	r := newRecorder(t)
	r.handle("/mcp", challenge401(`Bearer scope="read write"`))
	r.json("/.well-known/oauth-protected-resource/mcp", map[string]any{
		"resource": r.URL + "/mcp/", "authorization_servers": []string{r.URL}, "scopes_supported": []string{"x"}})
	r.json("/.well-known/openid-configuration", asDoc(r.URL))
	d, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Legacy || !reflect.DeepEqual(d.Scopes, []string{"read", "write"}) || d.Resource != r.URL+"/mcp/" {
		t.Fatalf("discovery = %+v", d)
	}
}

func TestDiscoverRefusals(t *testing.T) {
	type setup func(r *recorder)
	prm := func(resource string) setup {
		return func(r *recorder) {
			r.handle("/mcp", challenge401(`Bearer resource_metadata="`+r.URL+`/prm"`))
			if resource == "" {
				resource = r.URL + "/mcp"
			}
			r.json("/prm", map[string]any{"resource": resource, "authorization_servers": []string{r.URL}})
		}
	}
	withAS := func(mutate func(doc map[string]any, base string)) setup {
		return func(r *recorder) {
			prm("")(r)
			doc := asDoc(r.URL)
			mutate(doc, r.URL)
			r.json("/.well-known/oauth-authorization-server", doc)
		}
	}
	tests := map[string]struct {
		setup setup
		want  error
	}{
		"resource mismatch": {setup: prm("https://elsewhere.example/mcp"), want: ErrResourceMismatch},
		"resource is a sibling path": {setup: func(r *recorder) {
			prm(r.URL + "/mc")(r)
		}, want: ErrResourceMismatch},
		"S256 absent": {setup: withAS(func(d map[string]any, _ string) {
			delete(d, "code_challenge_methods_supported")
		}), want: ErrPKCEUnsupported},
		"only plain": {setup: withAS(func(d map[string]any, _ string) {
			d["code_challenge_methods_supported"] = []string{"plain"}
		}), want: ErrPKCEUnsupported},
		"issuer mismatch": {setup: withAS(func(d map[string]any, base string) {
			d["issuer"] = base + "/other"
		}), want: ErrIssuerMismatch},
		"insecure token endpoint": {setup: withAS(func(d map[string]any, _ string) {
			d["token_endpoint"] = "http://as.example.com/token"
		}), want: ErrInsecureEndpoint},
		"PRM names an AS without metadata": {setup: prm(""), want: ErrMetadataNotFound},
		"server error on probe": {setup: func(r *recorder) {
			r.handle("/mcp", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 502) })
		}, want: ErrTransient},
		"no challenge and no metadata": {setup: func(r *recorder) {
			r.handle("/mcp", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "gone", 404) })
		}, want: ErrMetadataNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRecorder(t)
			tc.setup(r)
			_, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDiscoverResourceOverride(t *testing.T) {
	r := newRecorder(t)
	r.handle("/mcp", challenge401(`Bearer resource_metadata="`+r.URL+`/prm"`))
	r.json("/prm", map[string]any{"resource": "https://api.example.com", "authorization_servers": []string{r.URL}})
	r.json("/.well-known/oauth-authorization-server", asDoc(r.URL))
	d, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp", Resource: "https://API.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Resource != "https://API.example.com/" {
		t.Fatalf("resource = %q, want the configured one", d.Resource)
	}
}

func TestDiscoverAuthorizationServerOverride(t *testing.T) {
	srv := startAS(t, oauthserver.Options{IssuerPath: "/t"})
	r := newRecorder(t)
	r.handle("/mcp", challenge401(`Bearer resource_metadata="`+r.URL+`/prm", scope="mcp"`))
	d, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp", AuthorizationServer: srv.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.requested(); !reflect.DeepEqual(got, []string{"/mcp"}) {
		t.Fatalf("override still fetched resource metadata: %v", got)
	}
	if d.Issuer != srv.Issuer() || d.Resource != r.URL+"/mcp" {
		t.Fatalf("discovery = %+v", d)
	}
}

func TestDiscoverHTTPLimits(t *testing.T) {
	t.Run("body capped", func(t *testing.T) {
		r := newRecorder(t)
		r.handle("/mcp", challenge401(`Bearer resource_metadata="`+r.URL+`/prm"`))
		r.handle("/prm", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"resource":"` + strings.Repeat("a", 2<<20) + `"}`))
		})
		_, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp"})
		if !errors.Is(err, errBodyTooLarge) {
			t.Fatalf("err = %v, want body too large", err)
		}
	})
	t.Run("no redirect to another host", func(t *testing.T) {
		other := newRecorder(t)
		r := newRecorder(t)
		otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
		r.handle("/mcp", challenge401(`Bearer resource_metadata="`+r.URL+`/prm"`))
		r.handle("/prm", func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, otherURL+"/prm", http.StatusFound)
		})
		// The 302 counts as "no document here"; discovery then falls back to the origin.
		_, _ = Discover(context.Background(), Config{ServerURL: r.URL + "/mcp"})
		if got := other.requested(); len(got) != 0 {
			t.Fatalf("followed redirect to other host: %v", got)
		}
	})
}

func TestDiscoverNoAuthWithOpenEventStream(t *testing.T) {
	r := newRecorder(t)
	release := make(chan struct{})
	defer close(release)
	r.handle("/mcp", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select { // a stream that never ends by itself
		case <-release:
		case <-req.Context().Done():
		}
	})
	d, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp"})
	if err != nil || !d.NoAuthRequired {
		t.Fatalf("Discover = %+v, %v", d, err)
	}
}

func TestDiscoverChallengeAmongOthers(t *testing.T) {
	r := newRecorder(t)
	r.handle("/mcp", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("WWW-Authenticate", `Basic realm="legacy, still here"`)
		w.Header().Add("WWW-Authenticate", `DPoP algs="ES256", Bearer realm="a, b", scope="s1 s2", resource_metadata="`+r.URL+`/missing"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	// The header's URL is gone; the well-known path-inserted document is used instead.
	r.json("/.well-known/oauth-protected-resource/mcp", map[string]any{"resource": r.URL + "/mcp", "authorization_servers": []string{r.URL}})
	r.json("/.well-known/oauth-authorization-server", asDoc(r.URL))
	d, err := Discover(context.Background(), Config{ServerURL: r.URL + "/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.ChallengeScopes, []string{"s1", "s2"}) || d.ResourceMetadataURL != r.URL+"/.well-known/oauth-protected-resource/mcp" {
		t.Fatalf("discovery = %+v", d)
	}
	want := []string{"/mcp", "/missing", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"}
	if got := r.requested(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requested %v, want %v", got, want)
	}
}
