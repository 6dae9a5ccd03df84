package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// whoami calls the whoami tool, which needs the profile scope at the test server.
func whoami(serverURL string) func(ctx context.Context, tok Token) (*http.Response, error) {
	return func(ctx context.Context, tok Token) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, strings.NewReader(
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return http.DefaultClient.Do(req)
	}
}

func TestCallWithStepUp(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true})
	cfg := Config{ServerURL: srv.MCPURL(), Scopes: []string{"mcp"}}
	opts := LoginOptions{OpenBrowser: browser(srv)}
	first, err := Login(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(first.Token.Scopes, "profile") {
		t.Fatalf("first login already has profile: %v", first.Token.Scopes)
	}
	resp, final, err := CallWithStepUp(context.Background(), cfg, opts, first, whoami(srv.MCPURL()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden || !slices.Contains(final.Token.Scopes, "profile") ||
		!slices.Contains(final.Token.Scopes, "mcp") {
		t.Fatalf("after step-up: HTTP %d, scopes %v", resp.StatusCode, final.Token.Scopes)
	}
	if st := srv.Stats(); st.Authorizations != 2 || st.Registrations != 1 {
		t.Fatalf("stats = %+v (step-up must reuse the registration)", st)
	}
}

func TestStepUpCap(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true})
	cfg := Config{ServerURL: srv.MCPURL()}
	opts := LoginOptions{OpenBrowser: browser(srv)}
	first, err := Login(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	always403 := func(context.Context, Token) (*http.Response, error) {
		calls++
		h := http.Header{}
		h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="mcp profile"`)
		return &http.Response{StatusCode: http.StatusForbidden, Header: h, Body: http.NoBody}, nil
	}
	_, _, err = CallWithStepUp(context.Background(), cfg, opts, first, always403)
	if !errors.Is(err, ErrStepUpLimit) {
		t.Fatalf("err = %v, want ErrStepUpLimit", err)
	}
	if calls != MaxStepUpAttempts+1 || srv.Stats().Authorizations != 1+MaxStepUpAttempts {
		t.Fatalf("calls = %d, authorizations = %d", calls, srv.Stats().Authorizations)
	}
	if _, err := StepUp(context.Background(), cfg, opts, first, []string{"x"}, MaxStepUpAttempts+1); !errors.Is(err, ErrStepUpLimit) {
		t.Fatalf("StepUp past the cap: %v", err)
	}
}

func TestScopeSelection(t *testing.T) {
	tests := []struct {
		name                                    string
		configured, challenge, resource, server []string
		want                                    string
	}{
		{"configured wins", []string{"c"}, []string{"ch"}, []string{"r"}, nil, "c"},
		{"challenge next", nil, []string{"ch"}, []string{"r"}, nil, "ch"},
		{"resource scopes_supported next", nil, nil, []string{"r1", "r2"}, nil, "r1 r2"},
		{"nothing", nil, nil, nil, []string{"a"}, ""},
		{"offline_access when advertised", []string{"c"}, nil, nil, []string{"c", "offline_access"}, "c offline_access"},
		{"offline_access not duplicated", []string{"offline_access"}, nil, nil, []string{"offline_access"}, "offline_access"},
	}
	for _, tc := range tests {
		if got := strings.Join(chooseScopes(tc.configured, tc.challenge, tc.resource, tc.server), " "); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := strings.Join(StepUpScopes([]string{"a", "b"}, []string{"b", "c"}), " "); got != "a b c" {
		t.Errorf("StepUpScopes = %q", got)
	}
}
