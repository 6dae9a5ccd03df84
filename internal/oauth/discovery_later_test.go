package oauth

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A server that lets initialize through without a token and refuses the next request is not
// a server that needs no authorization: the probe lists tools after initialize and starts from
// that refusal, and discovery can also start from a refusal the caller met itself.
func TestDiscoverFromAChallengeAfterInitialize(t *testing.T) {
	srv := startAS(t, oauthserver.Options{OpenInitialize: true})
	ctx := context.Background()
	d, err := Discover(ctx, Config{ServerURL: srv.MCPURL()})
	if err != nil || d.NoAuthRequired || d.Issuer != srv.Issuer() {
		t.Fatalf("discovery = %+v, %v; want the issuer %s found from the refusal after initialize", d, err, srv.Issuer())
	}
	req, _ := http.NewRequest(http.MethodPost, srv.MCPURL(), strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d, err = Discover(ctx, Config{ServerURL: srv.MCPURL(), Challenge: &LaterChallenge{Status: resp.StatusCode, Header: resp.Header}})
	if err != nil {
		t.Fatal(err)
	}
	if d.NoAuthRequired || d.Issuer != srv.Issuer() {
		t.Fatalf("discovery from the challenge = NoAuthRequired %t, issuer %q; want issuer %q", d.NoAuthRequired, d.Issuer, srv.Issuer())
	}
}
