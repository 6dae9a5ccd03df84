package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// A server that lets initialize through without a token and answers tools/list with 401:
// the probe logs in then, exactly as if initialize had been refused, and lists the tools.
func TestProbeLogsInWhenARequestAfterInitializeIsRefused(t *testing.T) {
	srv := startServer(t, oauthserver.Options{OpenInitialize: true})
	h := &headless{srv: srv, t: t}
	store := filepath.Join(t.TempDir(), "tokens.db")
	env := Env{OpenBrowser: h.open}
	out, errOut, code := runCLI(t, env, "probe", srv.MCPURL(), "--token-store", store, "--timeout", "30s")
	if code != 0 {
		t.Fatalf("probe exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"Auth:     new login", "echo", "get_time"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s\nstderr:\n%s", want, out, errOut)
		}
	}
	if n := h.opens.Load(); n != 1 {
		t.Fatalf("browser opened %d times, want 1", n)
	}
	// The token saved then serves the next probe.
	out, errOut, code = runCLI(t, env, "probe", srv.MCPURL(), "--token-store", store)
	if code != 0 || !strings.Contains(out, "Auth:     stored token") {
		t.Fatalf("second probe exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	assertNoSecrets(t, srv, out+errOut)
}

// A token without the scope the server needs is answered 403 insufficient_scope: the probe
// steps up (the granted scope plus the challenged one) instead of giving up.
func TestProbeStepsUpOnInsufficientScope(t *testing.T) {
	srv := startServer(t, oauthserver.Options{OpenInitialize: true})
	h := &headless{srv: srv, t: t}
	store := filepath.Join(t.TempDir(), "tokens.db")
	env := Env{OpenBrowser: h.open}
	out, errOut, code := runCLI(t, env, "probe", srv.MCPURL(), "--token-store", store, "--scope", "profile", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "Auth:     step-up login") || !strings.Contains(out, "echo") {
		t.Fatalf("probe exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := h.opens.Load(); n != 2 {
		t.Fatalf("browser opened %d times, want 2 (the login, then the step-up)", n)
	}
}
