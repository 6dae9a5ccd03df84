package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

func TestRedactPatterns(t *testing.T) {
	tests := map[string]struct{ in, leak string }{
		"query code":          {"GET /callback?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz", "SplxlOBeZQQYbYS6WxSbIA"},
		"form refresh token":  {"grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&resource=x", "tGzv3JOkF0XG5Qx2TlKWIA"},
		"client secret param": {"client_id=a&client_secret=7Fjfp0ZBr1KtDRbnfVdmIw", "7Fjfp0ZBr1KtDRbnfVdmIw"},
		"code verifier":       {"code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
		"id token and token":  {"id_token=eyJhbGciOi.abc.def&token=2YotnFZFEjr1zCsicMWpAA", "2YotnFZFEjr1zCsicMWpAA"},
		"access token JSON":   {`{"access_token": "2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer"}`, "2YotnFZFEjr1zCsicMWpAA"},
		"refresh token JSON":  {`{"refresh_token":"tGzv3JOk\"F0XG5Qx2TlKWIA"}`, "F0XG5Qx2TlKWIA"},
		"authorization hdr":   {"Authorization: Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"},
		"basic credentials":   {`header "Authorization"="Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"`, "czZCaGRSa3F0MzpnWDFmQmF0M2JW"},
		"bearer in prose":     {"sent bearer abcdef123456 to upstream", "abcdef123456"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := NewRedactor().Redact(tc.in)
			if strings.Contains(out, tc.leak) || !strings.Contains(out, Redacted) {
				t.Fatalf("Redact(%q) = %q", tc.in, out)
			}
		})
	}
	keep := "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&state=af0ifjsldkj&error_code=x"
	if out := NewRedactor().Redact(keep); out != keep {
		t.Fatalf("non-secrets redacted: %q", out)
	}
}

func TestRedactorRegisteredValues(t *testing.T) {
	r := NewRedactor()
	r.Add("s3cr3t-value", "abc", "with space&plus+")
	out := r.Redact("x s3cr3t-value y abc z with+space%26plus%2B")
	if strings.Contains(out, "s3cr3t-value") || !strings.Contains(out, "abc") || strings.Contains(out, "with+space%26plus%2B") {
		t.Fatalf("Redact = %q", out)
	}
	for i := 0; i < maxSecrets+10; i++ {
		r.Add(fmt.Sprintf("value-%06d", i))
	}
	if len(r.order) > maxSecrets || len(r.secrets) != len(r.order) {
		t.Fatalf("redactor grew to %d/%d", len(r.order), len(r.secrets))
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r.Add(fmt.Sprintf("concurrent-%d", i))
			_ = r.Redact("concurrent-1")
		}(i)
	}
	wg.Wait()
}

func TestErrorStringsCarryNoSecrets(t *testing.T) {
	RegisterSecret("leaky-refresh-token")
	e := &Error{Op: "token refresh", Code: "invalid_grant", Description: cleanDescription("bad leaky-refresh-token"),
		Err: errors.New("Post https://as/token?refresh_token=leaky-refresh-token")}
	if strings.Contains(e.Error(), "leaky-refresh-token") {
		t.Fatalf("error leaks: %v", e)
	}
}

// logSink collects log lines.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lines = append(s.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 9})
}

func (s *logSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

func TestFlowLogsCarryNoSecretsAndACorrelationID(t *testing.T) {
	srv := startAS(t, oauthserver.Options{AutoApprove: true, Clients: map[string]string{"conf": "conf-secret-123"}})
	var sink logSink
	ctx := WithCorrelationID(context.Background(), "corr-1234")
	var errs []string
	res, err := Login(ctx, Config{ServerURL: srv.MCPURL(), ClientID: "conf", ClientSecret: "conf-secret-123", Logger: sink.logger()},
		LoginOptions{OpenBrowser: browser(srv)})
	if err != nil {
		t.Fatal(err)
	}
	if res.CorrelationID != "corr-1234" {
		t.Fatalf("correlation ID = %q", res.CorrelationID)
	}
	req := RefreshRequest{TokenEndpoint: res.Discovery.Metadata.TokenEndpoint, Resource: res.Discovery.Resource,
		Client: res.Client, RefreshToken: res.Token.RefreshToken, Logger: sink.logger()}
	if _, err := Refresh(ctx, req); err != nil {
		t.Fatal(err)
	}
	// A replay fails; its error text and log lines must still be clean.
	if _, err := Refresh(ctx, req); err != nil {
		errs = append(errs, err.Error())
	}
	logs := sink.text()
	for _, line := range sink.lines {
		if !strings.Contains(line, `"correlationID"="corr-1234"`) {
			t.Errorf("log line without correlation ID: %s", line)
		}
	}
	secrets := append(srv.IssuedSecrets(), "conf-secret-123")
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log leaks a secret %q...", s[:6])
		}
		for _, e := range errs {
			if strings.Contains(e, s) {
				t.Errorf("error leaks a secret: %s", e)
			}
		}
	}
	if !strings.Contains(logs, "Logged in") || !strings.Contains(logs, "Received a refreshed token") {
		t.Fatalf("expected flow log lines, got:\n%s", logs)
	}
}

func TestCorrelationID(t *testing.T) {
	ctx := context.Background()
	if CorrelationID(ctx) != "" {
		t.Fatal("empty context has a correlation ID")
	}
	id := NewCorrelationID()
	if len(id) != 36 || NewCorrelationID() == id {
		t.Fatalf("NewCorrelationID = %q", id)
	}
	if got := CorrelationID(WithCorrelationID(ctx, id)); got != id {
		t.Fatalf("CorrelationID = %q", got)
	}
}

func TestFormattingHidesSecrets(t *testing.T) {
	res := LoginResult{
		Token:  Token{AccessToken: "fmt-access-secret", RefreshToken: "fmt-refresh-secret", TokenType: "Bearer"},
		Client: ClientRegistration{ClientID: "cid", ClientSecret: "fmt-client-secret"},
	}
	req := res.RefreshRequest()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, res) + fmt.Sprintf(verb, req) + fmt.Sprintf(verb, &res)
		for _, s := range []string{"fmt-access-secret", "fmt-refresh-secret", "fmt-client-secret"} {
			if strings.Contains(out, s) {
				t.Errorf("%s leaks %s: %s", verb, s, out)
			}
		}
	}
}

func TestRedactorFindsRegisteredTokensInContext(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	const b64 = "ab+cd/ef=="
	r := NewRedactor()
	r.Add(tok, b64)
	for i := 0; i < maxSecrets; i++ {
		r.Add(fmt.Sprintf("filler-token-%06d", i)) // many registered values, as in a busy controller
	}
	r.Add(tok, b64) // re-register after the fillers so they are not evicted
	cases := []string{
		tok,
		"upstream said: " + tok + " is invalid",
		`{"x":"` + tok + `"}`,
		"/callback/" + tok,
		"?a=1&code2=" + tok + "&b=2",
		"value " + b64 + ".",
		"k=" + url.QueryEscape(b64),
	}
	for _, in := range cases {
		out := r.Redact(in)
		if strings.Contains(out, tok) || strings.Contains(out, b64) || strings.Contains(out, url.QueryEscape(b64)) {
			t.Errorf("Redact(%q) = %q", in, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("Redact(%q) = %q: nothing redacted", in, out)
		}
	}
}

func BenchmarkRedactWithManyRegisteredTokens(b *testing.B) {
	r := NewRedactor()
	for i := 0; i < maxSecrets; i++ {
		r.Add(fmt.Sprintf("eyJhbGciOiJFUzI1NiJ9.%064d.sig", i))
	}
	line := `"level"=0 "msg"="Refreshed token" "upstreamServer"={"name"="s1","namespace"="bench"} "expiresIn"="1m0s"`
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Add(fmt.Sprintf("eyJhbGciOiJFUzI1NiJ9.new%064d.sig", i)) // a refresh registers new tokens
		_ = r.Redact(line)
	}
}
