package mcpconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A server that lets initialize through without a token and challenges tools/list: Dial
// fails with a *ChallengeError naming tools/list and carrying the WWW-Authenticate header
// discovery starts from.
func TestRefusalAfterInitializeIsAChallengeError(t *testing.T) {
	srv := startServer(t, oauthserver.Options{OpenInitialize: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, Target{URL: srv.MCPURL()}, Options{ClientName: "test"})
	var ce *ChallengeError
	if !errors.As(err, &ce) || ce.Method != "tools/list" || ce.Status != http.StatusUnauthorized {
		t.Fatalf("Dial: %v; want a 401 *ChallengeError of tools/list", err)
	}
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(ce.Header.Get("WWW-Authenticate"), "resource_metadata") {
		t.Fatalf("challenge %+v: want ErrUnauthorized and the server's WWW-Authenticate", ce)
	}
}

// A 403 insufficient_scope after initialize is a *ChallengeError that unwraps to
// ErrForbidden, with the challenged scope.
func TestForbiddenAfterInitializeIsAChallengeError(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "scoped", Version: "v0"}, nil)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"tools/list"`)) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="mcp admin"`)
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, Target{URL: hs.URL}, Options{ClientName: "test", Token: "tok"})
	var ce *ChallengeError
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || !errors.Is(err, ErrForbidden) {
		t.Fatalf("Dial: %v; want a 403 *ChallengeError", err)
	}
	if !strings.Contains(ce.Header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Fatalf("the challenge lost its header: %+v", ce)
	}
}
