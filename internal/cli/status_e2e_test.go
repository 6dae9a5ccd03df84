package cli

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// normalisers replace volatile text (ports, times, durations, IDs) with placeholders.
var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "UUID"},
	{regexp.MustCompile(`\b\d+(d|h\d+m|h|m|s)\b`), "DUR"},
	{regexp.MustCompile(`(\S) {2,}`), "$1  "}, // table widths follow the values replaced above
}

func normalise(s, ns string) string {
	s = strings.ReplaceAll(s, ns, "NS")
	for _, n := range normalisers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// golden compares got with testdata/name (after normalisation), or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run with -update to create it): %v", path, err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestStatusRefreshLogoutOutputs(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	createServer(t, ns, "alpha", srv.MCPURL())
	createServer(t, ns, "beta", srv.MCPURL())
	useBrowser(t, "follow")
	if out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "alpha", "--timeout", "60s"}, kubeArgs(ns)...)...); code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, errOut)
	}
	run := func(name string, wantCode int, args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, testEnv(), append(args, kubeArgs(ns)...)...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
		}
		assertNoSecrets(t, srv, out+errOut)
		got := normalise(out, ns)
		golden(t, name, got)
		return got
	}
	run("status.golden", 0, "auth", "status")
	run("status-alpha.golden", 0, "auth", "status", "alpha")
	run("status-json.golden", 0, "auth", "status", "-o", "json")
	run("status-yaml.golden", 0, "auth", "status", "-o", "yaml")
	run("status-wide.golden", 0, "auth", "status", "-o", "wide")
	run("refresh.golden", 0, "auth", "refresh", "alpha", "--timeout", "60s")
	run("logout.golden", 0, "auth", "logout", "alpha", "--timeout", "60s")
	run("status-after-logout.golden", 0, "auth", "status")

	out, errOut, code := runCLI(t, testEnv(), "auth", "status", "-A", "--kubeconfig", kubeconfigPath)
	if code != 0 || !strings.HasPrefix(out, "NAMESPACE") || !strings.Contains(out, ns) {
		t.Errorf("status -A: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "status", "-o", "xml"}, kubeArgs(ns)...)...); code != ExitFailed || !strings.Contains(errOut, "json, yaml or wide") {
		t.Errorf("-o xml: exit %d\n%s", code, errOut)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	out, _, code := runCLI(t, Env{}, "version")
	if code != 0 || !strings.HasPrefix(out, "mcpproxy ") {
		t.Errorf("version: %d %q", code, out)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runCLI(t, Env{}, "completion", shell)
		if code != 0 || !strings.Contains(out, "mcpproxy") {
			t.Errorf("completion %s: exit %d\n%s", shell, code, errOut)
		}
	}
}

func TestKubeconfigFromEnvironmentAndContextFlag(t *testing.T) {
	ns := newNamespace(t)
	t.Setenv("KUBECONFIG", kubeconfigPath)
	_, errOut, code := runCLI(t, testEnv(), "auth", "status", "-n", ns)
	if code != 0 || !strings.Contains(errOut, "No UpstreamServers found in namespace "+ns) {
		t.Errorf("KUBECONFIG: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCLI(t, testEnv(), "auth", "status", "-n", ns, "--context", controlplane.ContextName)
	if code != 0 {
		t.Errorf("--context %s: exit %d\n%s", controlplane.ContextName, code, errOut)
	}
	_, errOut, code = runCLI(t, testEnv(), "auth", "status", "--context", "nope")
	if code == 0 || !strings.Contains(errOut, "nope") {
		t.Errorf("--context nope: exit %d\n%s", code, errOut)
	}
}
