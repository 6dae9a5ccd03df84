package cli

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// headless plays the user's browser against srv: approve, then deliver the redirect.
type headless struct {
	srv   *oauthserver.Server
	opens atomic.Int32
	t     *testing.T
}

func (h *headless) open(authURL string) error {
	h.opens.Add(1)
	go func() {
		loc, err := h.srv.FollowAuthorize(authURL)
		if err != nil {
			h.t.Errorf("following the authorization URL: %v", err)
			return
		}
		resp, err := http.Get(loc.String())
		if err != nil {
			h.t.Errorf("delivering the callback: %v", err)
			return
		}
		_ = resp.Body.Close()
	}()
	return nil
}

func startServer(t *testing.T, opts oauthserver.Options) *oauthserver.Server {
	t.Helper()
	opts.AutoApprove = true
	srv := oauthserver.New(opts)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("starting oauthserver: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// runCLI runs mcpproxy with args and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, env Env, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	env.Streams = Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewRootCommand(env)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		errOut.WriteString("Error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func TestProbeEveryDiscoveryMode(t *testing.T) {
	modes := []oauthserver.PRMMode{oauthserver.PRMWellKnownPath, oauthserver.PRMRoot, oauthserver.PRMHeaderOnly}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			srv := startServer(t, oauthserver.Options{PRMMode: mode})
			h := &headless{srv: srv, t: t}
			store := filepath.Join(t.TempDir(), "tokens.db")
			env := Env{OpenBrowser: h.open}
			out, errOut, code := runCLI(t, env, "probe", srv.MCPURL(), "--token-store", store, "--timeout", "30s")
			if code != 0 {
				t.Fatalf("probe exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			for _, want := range []string{"Server:", "Protocol:", "Auth:     new login", "echo", "whoami", "get_time"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(errOut, "Open this URL") {
				t.Errorf("the authorization URL was not printed:\n%s", errOut)
			}

			// A second probe reuses the stored token without a browser.
			out, errOut, code = runCLI(t, env, "probe", srv.MCPURL(), "--token-store", store)
			if code != 0 || !strings.Contains(out, "Auth:     stored token") {
				t.Fatalf("second probe exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if n := h.opens.Load(); n != 1 {
				t.Errorf("browser opened %d times, want 1", n)
			}
			assertNoSecrets(t, srv, out+errOut)
		})
	}
}

func TestProbeRefreshesAnExpiredToken(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := startServer(t, oauthserver.Options{Now: now, AccessTokenTTL: time.Minute})
	h := &headless{srv: srv, t: t}
	store := filepath.Join(t.TempDir(), "tokens.db")
	env := Env{OpenBrowser: h.open, Now: now}
	if out, errOut, code := runCLI(t, env, "probe", srv.MCPURL(), "--token-store", store); code != 0 {
		t.Fatalf("first probe exit %d\n%s\n%s", code, out, errOut)
	}
	offset.Store(int64(2 * time.Minute)) // the access token has expired for both sides
	out, errOut, code := runCLI(t, env, "probe", srv.MCPURL(), "--token-store", store)
	if code != 0 || !strings.Contains(out, "Auth:     refreshed token") {
		t.Fatalf("second probe exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := h.opens.Load(); n != 1 {
		t.Errorf("browser opened %d times, want 1", n)
	}
}

func TestProbeServerWithoutAuth(t *testing.T) {
	srv := startServer(t, oauthserver.Options{NoAuth: true})
	env := Env{OpenBrowser: func(string) error { t.Error("browser opened for a public server"); return nil }}
	out, errOut, code := runCLI(t, env, "probe", srv.MCPURL(), "--token-store", filepath.Join(t.TempDir(), "t.db"))
	if code != 0 || !strings.Contains(out, "Auth:     no token needed") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestProbeUnreachableServerFails(t *testing.T) {
	env := Env{OpenBrowser: func(string) error { return nil }}
	_, errOut, code := runCLI(t, env, "probe", "http://127.0.0.1:1/mcp", "--token-store", filepath.Join(t.TempDir(), "t.db"), "--timeout", "10s")
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
}

// assertNoSecrets fails when any token, code or secret the server issued appears in text.
func assertNoSecrets(t *testing.T, srv *oauthserver.Server, text string) {
	t.Helper()
	for _, s := range srv.IssuedSecrets() {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("output contains an issued secret")
		}
	}
}

func TestProbeSSETransport(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	h := &headless{srv: srv, t: t}
	env := Env{OpenBrowser: h.open}
	out, errOut, code := runCLI(t, env, "probe", srv.SSEURL(), "--transport", "sse", "--token-store", filepath.Join(t.TempDir(), "t.db"), "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "echo") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestProbeTokenStoreFromEnvironment(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	h := &headless{srv: srv, t: t}
	store := filepath.Join(t.TempDir(), "env.db")
	env := Env{OpenBrowser: h.open, Getenv: func(k string) string {
		if k == TokenStoreEnv {
			return store
		}
		return ""
	}}
	for i := range 2 {
		if out, errOut, code := runCLI(t, env, "probe", srv.MCPURL()); code != 0 {
			t.Fatalf("probe %d: exit %d\n%s\n%s", i, code, out, errOut)
		}
	}
	if h.opens.Load() != 1 {
		t.Errorf("browser opened %d times, want 1 (the second probe should use $%s)", h.opens.Load(), TokenStoreEnv)
	}
}
