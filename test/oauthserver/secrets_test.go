package oauthserver

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a log sink safe for the server's concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsHoldNoSecrets drives every endpoint, successes and failures, with
// debug logging on, and looks for each issued secret in the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs syncBuffer
	s := start(t, Options{
		Clients: map[string]string{"pre": "pre-secret-value"},
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	c := register(t, s, "client_secret_basic")
	v, ch := pkcePair()
	code := getCode(t, s, c, authParams(s, c, ch)) // through the consent page
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {c.redirect}}
	_, tok, _ := tokenRequest(t, s, c, form)
	rt := tok["refresh_token"].(string)
	_, next := refresh(t, s, c, rt)
	mcpPost(t, s.MCPURL(), tok["access_token"].(string), "")
	mcpPost(t, s.MCPURL(), next["access_token"].(string), "")
	revokeRequest(t, s, c, next["access_token"].(string))
	refresh(t, s, c, rt)        // reuse detection
	tokenRequest(t, s, c, form) // code replay
	tokenRequest(t, s, testClient{id: "pre", secret: "wrong", method: "client_secret_post"}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	s.FailNextTokenRequests(1, Fault{Kind: FaultInvalidGrant})
	refresh(t, s, c, rt)
	resp, err := http.Get(s.URL() + "/admin/issued")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	issued := s.IssuedSecrets()
	// Access and refresh tokens, the code, the client secrets.
	if len(issued) < 6 || !contains(issued, code) || !contains(issued, c.secret) || !contains(issued, "pre-secret-value") {
		t.Fatalf("IssuedSecrets is missing something: %d entries", len(issued))
	}
	out := logs.String()
	if !strings.Contains(out, "Detected refresh token reuse") || !strings.Contains(out, "Served request") {
		t.Fatalf("the log did not record the flow:\n%s", out)
	}
	for _, secret := range issued {
		if strings.Contains(out, secret) {
			t.Errorf("log contains an issued secret %.8s…", secret)
		}
	}
	for _, other := range []string{v, ch, "st-123"} {
		if strings.Contains(out, other) {
			t.Errorf("log contains request secret %.8s…", other)
		}
	}
}
