package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// callMCP sends an initialize request to the MCP server with tok and returns the status.
func callMCP(t *testing.T, serverURL string, tok Token) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, serverURL, strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestLoginWithDynamicRegistration(t *testing.T) {
	for name, opts := range map[string]oauthserver.Options{
		"auto approve":     {AutoApprove: true},
		"consent page":     {},
		"issuer with path": {AutoApprove: true, IssuerPath: "/tenant1", PRMMode: oauthserver.PRMRoot},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startAS(t, opts)
			cfg := Config{ServerURL: srv.MCPURL()}
			res, err := Login(context.Background(), cfg, LoginOptions{OpenBrowser: browser(srv), Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			if res.CorrelationID == "" || res.Client.Source != SourceDynamic || res.Client.AuthMethod != AuthMethodNone ||
				res.Client.Issuer != srv.Issuer() {
				t.Fatalf("result = %+v", res)
			}
			if res.Token.RefreshToken == "" || !res.Token.Expiry.Equal(fixedNow.Add(time.Hour)) {
				t.Fatalf("token expiry %v, refresh present %v", res.Token.Expiry, res.Token.RefreshToken != "")
			}
			if got := callMCP(t, srv.MCPURL(), res.Token); got != http.StatusOK {
				t.Fatalf("MCP call with the new token: HTTP %d", got)
			}
			st := srv.Stats()
			if st.Registrations != 1 || st.Authorizations != 1 || st.TokenRequests["authorization_code"] != 1 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestLoginReusesRegistrationPerIssuer(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true})
	cfg := Config{ServerURL: srv.MCPURL()}
	first, err := Login(context.Background(), cfg, LoginOptions{OpenBrowser: browser(srv)})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Login(context.Background(), cfg, LoginOptions{OpenBrowser: browser(srv), Registration: &first.Client})
	if err != nil {
		t.Fatal(err)
	}
	if second.Client.ClientID != first.Client.ClientID || srv.Stats().Registrations != 1 {
		t.Fatalf("registration not reused: %q vs %q, %d registrations", second.Client.ClientID, first.Client.ClientID, srv.Stats().Registrations)
	}
	moved := first.Client
	moved.Issuer = "https://old-issuer.example"
	third, err := Login(context.Background(), cfg, LoginOptions{OpenBrowser: browser(srv), Registration: &moved})
	if err != nil {
		t.Fatal(err)
	}
	if third.Client.ClientID == first.Client.ClientID || srv.Stats().Registrations != 2 {
		t.Fatal("a changed issuer must lead to a new registration")
	}
}

func TestLoginPreregisteredConfidentialClient(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true, NoDCR: true, Clients: map[string]string{"pre-client": "pre-secret-value"}})
	res, err := Login(context.Background(), Config{ServerURL: srv.MCPURL(), ClientID: "pre-client", ClientSecret: "pre-secret-value"},
		LoginOptions{OpenBrowser: browser(srv)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Client.Source != SourcePreregistered || res.Client.AuthMethod != AuthMethodBasic || srv.Stats().Registrations != 0 {
		t.Fatalf("client = %+v", res.Client)
	}
}

func TestLoginNeedsClientID(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true, NoDCR: true})
	_, err := Login(context.Background(), Config{ServerURL: srv.MCPURL()}, LoginOptions{OpenBrowser: browser(srv)})
	if !errors.Is(err, ErrNoClientID) || !strings.Contains(err.Error(), "client ID") {
		t.Fatalf("err = %v, want ErrNoClientID", err)
	}
}

func TestLoginFailures(t *testing.T) {
	tamper := func(srv *oauthserver.Server, edit func(q url.Values)) func(string) error {
		return func(authURL string) error {
			loc, err := srv.FollowAuthorize(authURL)
			if err != nil {
				return err
			}
			q := loc.Query()
			edit(q)
			loc.RawQuery = q.Encode()
			return deliver(loc.String())
		}
	}
	tests := map[string]struct {
		browser func(srv *oauthserver.Server) func(string) error
		want    error
	}{
		"denied": {browser: func(srv *oauthserver.Server) func(string) error {
			return func(authURL string) error {
				loc, err := srv.DenyAuthorize(authURL)
				if err != nil {
					return err
				}
				return deliver(loc.String())
			}
		}, want: ErrAccessDenied},
		"state mismatch": {browser: func(srv *oauthserver.Server) func(string) error {
			return tamper(srv, func(q url.Values) { q.Set("state", "forged") })
		}, want: ErrStateMismatch},
		"iss mismatch": {browser: func(srv *oauthserver.Server) func(string) error {
			return tamper(srv, func(q url.Values) { q.Set("iss", "https://evil.example") })
		}, want: ErrIssuerMismatch},
		"iss missing though advertised": {browser: func(srv *oauthserver.Server) func(string) error {
			return tamper(srv, func(q url.Values) { q.Del("iss") })
		}, want: ErrIssuerMismatch},
		"timeout": {browser: func(*oauthserver.Server) func(string) error {
			return func(string) error { return nil }
		}, want: ErrLoginTimeout},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startAS(t, oauthserver.Options{})
			_, err := Login(context.Background(), Config{ServerURL: srv.MCPURL()},
				LoginOptions{OpenBrowser: tc.browser(srv), Timeout: 300 * time.Millisecond})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if srv.Stats().TokenRequests["authorization_code"] != 0 {
				t.Fatal("code exchanged despite a failed callback")
			}
		})
	}
}

func TestCallbackListener(t *testing.T) {
	cb, err := startCallback(0, 0, func(q map[string][]string) (string, error) {
		return checkCallback(url.Values(q), "st", "https://as", false)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	base := strings.TrimSuffix(cb.RedirectURI(), callbackPath)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("redirect URI %q is not loopback", cb.RedirectURI())
	}
	resp, err := http.Get(base + "/other?code=x&state=st")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other path: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := deliver(cb.RedirectURI() + "?code=the-code&state=st"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(cb.RedirectURI() + "?code=again&state=st")
	if err != nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("second result: %v %v", resp, err)
	}
	resp.Body.Close()
	code, err := cb.wait(context.Background(), time.Second)
	if err != nil || code != "the-code" {
		t.Fatalf("wait = %q, %v", code, err)
	}
}

func TestCheckCallbackISS(t *testing.T) {
	tests := map[string]struct {
		q           url.Values
		issRequired bool
		want        error
	}{
		"iss matches":                  {q: url.Values{"state": {"s"}, "code": {"c"}, "iss": {"https://as"}}},
		"no iss, not advertised":       {q: url.Values{"state": {"s"}, "code": {"c"}}},
		"no iss, advertised":           {q: url.Values{"state": {"s"}, "code": {"c"}}, issRequired: true, want: ErrIssuerMismatch},
		"wrong iss, not advertised":    {q: url.Values{"state": {"s"}, "code": {"c"}, "iss": {"https://as/"}}, want: ErrIssuerMismatch},
		"error with matching iss":      {q: url.Values{"state": {"s"}, "error": {"access_denied"}, "iss": {"https://as"}}, want: ErrAccessDenied},
		"other error is permanent":     {q: url.Values{"state": {"s"}, "error": {"invalid_scope"}}, want: ErrPermanent},
		"missing state":                {q: url.Values{"code": {"c"}}, want: ErrStateMismatch},
		"forged state with valid code": {q: url.Values{"state": {"x"}, "code": {"c"}}, want: ErrStateMismatch},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := checkCallback(tc.q, "s", "https://as", tc.issRequired)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAuthorizationURL(t *testing.T) {
	d := &Discovery{Resource: "https://mcp.example/mcp", Scopes: []string{"a", "b"},
		Metadata: AuthServerMetadata{AuthorizationEndpoint: "https://as.example/authorize?tenant=x"}}
	raw, err := authorizationURL(d, &ClientRegistration{ClientID: "cid"}, "http://127.0.0.1:1/callback", "st", "ch",
		map[string]string{"prompt": "consent", "state": "override", "resource": "evil"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	want := map[string]string{"tenant": "x", "prompt": "consent", "state": "st", "resource": "https://mcp.example/mcp",
		"scope": "a b", "code_challenge": "ch", "code_challenge_method": "S256", "response_type": "code", "client_id": "cid"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
}
