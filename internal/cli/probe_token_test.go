package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearerMCPServer is an MCP server with one tool that answers only requests carrying
// "Authorization: Bearer <token>", as the mcpproxy gateway answers a ServiceAccount token. It
// counts the requests it refused.
func bearerMCPServer(t *testing.T, token string) (url string, refused *atomic.Int32) {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "bearer", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Returns its text."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	refused = &atomic.Int32{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs.URL + "/mcp", refused
}

// printed collects everything the probes of a test printed.
var printed strings.Builder

// runProbeCLI runs mcpproxy with stdin and an environment in which the probe token store
// would be store.
func runProbeCLI(t *testing.T, stdin, store string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := Env{
		Streams:     Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut},
		OpenBrowser: func(string) error { t.Error("a --token-file probe opened a browser"); return nil },
		Getenv: func(k string) string {
			if k == TokenStoreEnv {
				return store
			}
			return ""
		},
	}
	cmd := NewRootCommand(env)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		errOut.WriteString("Error: " + err.Error() + "\n")
	}
	printed.WriteString(out.String() + errOut.String())
	return out.String(), errOut.String(), ExitCode(err)
}

// TestProbeWithATokenFile: --token-file sends its token as it is, from a file or standard
// input, never logs in, never opens the token store and never prints the token; a refused
// token is an error that says so.
func TestProbeWithATokenFile(t *testing.T) {
	const token = "sa-token-for-the-gateway"
	url, refused := bearerMCPServer(t, token)
	dir := t.TempDir()
	store := filepath.Join(dir, "probe-tokens.db")
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runProbeCLI(t, "", store, "probe", "--token-file", file, url)
	if code != 0 || !strings.Contains(out, "Auth:     bearer token from "+file) || !strings.Contains(out, "Tools (1):\n  echo") {
		t.Errorf("from a file: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runProbeCLI(t, token+"\n", store, "probe", "--token-file", "-", url)
	if code != 0 || !strings.Contains(out, "Auth:     bearer token from standard input") {
		t.Errorf("from standard input: exit %d\n%s\n%s", code, out, errOut)
	}
	if refused.Load() != 0 {
		t.Errorf("the server refused %d requests carrying the right token", refused.Load())
	}

	out, errOut, code = runProbeCLI(t, "not-the-token", store, "probe", "--token-file", "-", url)
	if code != ExitFailed || !strings.Contains(errOut, "the server refused the token from - (HTTP 401 at initialize)") {
		t.Errorf("a wrong token: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, c := range []struct{ name, stdin string }{{"empty", ""}, {"two words", "a b"}} {
		if _, errOut, code := runProbeCLI(t, c.stdin, store, "probe", "--token-file", "-", url); code != ExitFailed || !strings.Contains(errOut, "holds no token") {
			t.Errorf("%s input: exit %d\n%s", c.name, code, errOut)
		}
	}
	if _, errOut, code := runProbeCLI(t, token, store, "probe", "--token-file", "-", "--client-id", "x", url); code != ExitFailed || !strings.Contains(errOut, "none of the login flags") {
		t.Errorf("with --client-id: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runProbeCLI(t, "", store, "probe", "--token-file", filepath.Join(dir, "missing"), url); code != ExitFailed {
		t.Errorf("a missing file: exit %d\n%s", code, errOut)
	}

	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("a --token-file probe touched the token store: %v", err)
	}
	if strings.Contains(printed.String(), token) {
		t.Errorf("the token was printed:\n%s", printed.String())
	}
}
