package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// loggedIn logs in against srv and returns the result and a refresh request for it.
func loggedIn(t *testing.T, srv *oauthserver.Server) (*LoginResult, RefreshRequest) {
	t.Helper()
	res, err := Login(context.Background(), Config{ServerURL: srv.MCPURL()}, LoginOptions{OpenBrowser: browser(srv)})
	if err != nil {
		t.Fatal(err)
	}
	req := res.RefreshRequest()
	req.Now = clock
	return res, req
}

func TestRefreshRotation(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true})
	_, req := loggedIn(t, srv)
	tok, err := Refresh(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == req.RefreshToken || !tok.Expiry.Equal(fixedNow.Add(time.Hour)) {
		t.Fatalf("refreshed token: rotated=%v expiry=%v", tok.RefreshToken != req.RefreshToken, tok.Expiry)
	}
	if callMCP(t, srv.MCPURL(), *tok) != http.StatusOK {
		t.Fatal("refreshed access token rejected by the MCP server")
	}
	// Spending the rotated-away token again is a replay: permanent.
	if _, err := Refresh(context.Background(), req); !errors.Is(err, ErrPermanent) {
		t.Fatalf("replayed refresh token: err = %v, want ErrPermanent", err)
	}
}

func TestRefreshWithoutRotationKeepsToken(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true, NoRotation: true})
	_, req := loggedIn(t, srv)
	tok, err := Refresh(context.Background(), req)
	if err != nil || tok.RefreshToken != req.RefreshToken {
		t.Fatalf("refresh = %+v, %v", tok, err)
	}
}

func TestRefreshFaultClassification(t *testing.T) {
	tests := map[string]struct {
		fault      oauthserver.Fault
		ctxTimeout time.Duration
		class      error
		code       string
		retryAfter time.Duration
	}{
		"500":            {fault: oauthserver.Fault{Kind: oauthserver.FaultServerError}, class: ErrTransient, code: "server_error"},
		"503 with retry": {fault: oauthserver.Fault{Kind: oauthserver.FaultUnavailable, RetryAfter: 2 * time.Second}, class: ErrTransient, code: "temporarily_unavailable", retryAfter: 2 * time.Second},
		"invalid_grant":  {fault: oauthserver.Fault{Kind: oauthserver.FaultInvalidGrant}, class: ErrPermanent, code: "invalid_grant"},
		"invalid_client": {fault: oauthserver.Fault{Kind: oauthserver.FaultInvalidClient}, class: ErrPermanent, code: "invalid_client"},
		"malformed body": {fault: oauthserver.Fault{Kind: oauthserver.FaultMalformed}, class: ErrTransient, code: "malformed_response"},
		"timeout":        {fault: oauthserver.Fault{Kind: oauthserver.FaultSlow, Delay: 3 * time.Second}, ctxTimeout: 200 * time.Millisecond, class: ErrTransient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startAS(t, oauthserver.Options{AutoApprove: true})
			_, req := loggedIn(t, srv)
			srv.FailNextTokenRequests(1, tc.fault)
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			_, err := Refresh(ctx, req)
			if !errors.Is(err, tc.class) {
				t.Fatalf("err = %v, want %v", err, tc.class)
			}
			var oe *Error
			if !errors.As(err, &oe) || oe.Code != tc.code || oe.RetryAfter != tc.retryAfter || RetryAfterOf(err) != tc.retryAfter {
				t.Fatalf("error = %#v", oe)
			}
			if tc.class == ErrTransient && tc.ctxTimeout == 0 {
				// The refresh token survived the transient failure.
				if _, err := Refresh(context.Background(), req); err != nil {
					t.Fatalf("retry after transient failure: %v", err)
				}
			}
		})
	}
}

func TestRefreshAnswers(t *testing.T) {
	tests := map[string]struct {
		handler   http.HandlerFunc
		class     error
		check     func(t *testing.T, tok *Token, err error)
		closeSrv  bool
		reqScopes []string
	}{
		"no expires_in and no refresh_token": {
			handler: jsonHandler(200, map[string]any{"access_token": "at-new-1", "token_type": "bearer"}),
			check: func(t *testing.T, tok *Token, _ error) {
				if !tok.Expiry.IsZero() || tok.RefreshToken != "rt-old-secret" || tok.TokenType != "bearer" ||
					strings.Join(tok.Scopes, " ") != "a b" {
					t.Fatalf("token = %+v", tok)
				}
			},
			reqScopes: []string{"a", "b"},
		},
		"expires_in as string": {
			handler: jsonHandler(200, map[string]any{"access_token": "at-new-2", "expires_in": "60", "scope": "x"}),
			check: func(t *testing.T, tok *Token, _ error) {
				if !tok.Expiry.Equal(fixedNow.Add(time.Minute)) || tok.Scopes[0] != "x" || tok.TokenType != "Bearer" {
					t.Fatalf("token = %+v", tok)
				}
			},
		},
		"429 with Retry-After seconds": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				jsonHandler(429, map[string]any{"error": "slow_down"})(w, r)
			},
			class: ErrTransient,
			check: func(t *testing.T, _ *Token, err error) {
				if RetryAfterOf(err) != 7*time.Second {
					t.Fatalf("retry after = %v", RetryAfterOf(err))
				}
			},
		},
		"503 with Retry-After date": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", fixedNow.Add(90*time.Second).Format(http.TimeFormat))
				w.WriteHeader(503)
			},
			class: ErrTransient,
			check: func(t *testing.T, _ *Token, err error) {
				if RetryAfterOf(err) != 90*time.Second {
					t.Fatalf("retry after = %v", RetryAfterOf(err))
				}
			},
		},
		"invalid_scope":               {handler: jsonHandler(400, map[string]any{"error": "invalid_scope"}), class: ErrPermanent},
		"unauthorized_client":         {handler: jsonHandler(400, map[string]any{"error": "unauthorized_client"}), class: ErrPermanent},
		"bare 401":                    {handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }, class: ErrPermanent},
		"unknown 400 keeps the token": {handler: jsonHandler(400, map[string]any{"error": "invalid_request"}), class: ErrTransient},
		"no access_token":             {handler: jsonHandler(200, map[string]any{"token_type": "Bearer"}), class: ErrTransient},
		"HTML instead of JSON":        {handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>ok</html>")) }, class: ErrTransient},
		"network error":               {closeSrv: true, class: ErrTransient},
		"provider text scrubbed and truncated": {
			handler: jsonHandler(400, map[string]any{"error": "invalid_grant",
				"error_description": "token rt-old-secret refresh_token=abc123 is bad " + strings.Repeat("x", 500)}),
			class: ErrPermanent,
			check: func(t *testing.T, _ *Token, err error) {
				msg := err.Error()
				if strings.Contains(msg, "rt-old-secret") || strings.Contains(msg, "abc123") || len(msg) > 400 {
					t.Fatalf("error text leaks or is too long: %q", msg)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRecorder(t)
			r.handle("/token", tc.handler)
			if tc.closeSrv {
				r.Close()
			}
			tok, err := Refresh(context.Background(), RefreshRequest{TokenEndpoint: r.URL + "/token", Resource: "https://mcp.example",
				Client: ClientRegistration{ClientID: "c"}, RefreshToken: "rt-old-secret", Scopes: tc.reqScopes, Now: clock})
			if tc.class == nil && err != nil || tc.class != nil && !errors.Is(err, tc.class) {
				t.Fatalf("err = %v, want class %v", err, tc.class)
			}
			if err != nil && strings.Contains(err.Error(), "rt-old-secret") {
				t.Fatalf("error leaks the refresh token: %v", err)
			}
			if tc.check != nil {
				tc.check(t, tok, err)
			}
		})
	}
}

func TestRefreshRequiresHTTPSOffLoopback(t *testing.T) {
	_, err := Refresh(context.Background(), RefreshRequest{TokenEndpoint: "http://as.example.com/token", RefreshToken: "rt-1234"})
	if !errors.Is(err, ErrInsecureEndpoint) {
		t.Fatalf("err = %v, want ErrInsecureEndpoint", err)
	}
}

func TestRevoke(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true})
	res, req := loggedIn(t, srv)
	if err := Revoke(context.Background(), res.Discovery.Metadata.RevocationEndpoint, res.Client, req.RefreshToken, "refresh_token", nil); err != nil {
		t.Fatal(err)
	}
	if srv.Stats().Revocations != 1 {
		t.Fatalf("stats = %+v", srv.Stats())
	}
	if _, err := Refresh(context.Background(), req); !errors.Is(err, ErrPermanent) {
		t.Fatalf("refresh after revocation: err = %v, want ErrPermanent", err)
	}
	if err := Revoke(context.Background(), "", res.Client, "x", "", nil); !errors.Is(err, ErrRevocationUnsupported) {
		t.Fatalf("err = %v", err)
	}
}
