package devsmoke

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// guidePath is the getting-started guide this test keeps true.
var guidePath = filepath.Join(repoRoot, "docs", "getting-started.md")

// The guide's commands name make dev's defaults; the test runs make dev on free ports with its
// state in a temporary directory, so it can run beside a reader's own make dev. The commands
// get the test's values, and outputs get the defaults back before they are compared.
const (
	guideOAuthAddr   = "127.0.0.1:9000"
	guideGatewayAddr = "127.0.0.1:18090"
	guideDevDir      = "$PWD/bin/dev/"
)

// stepTimeout bounds a block that is not an eventually block; the slowest waits (kubectl wait
// for a refresh) take under 30s with make dev's 30s tokens.
const stepTimeout = 90 * time.Second

// TestGettingStartedGuide runs docs/getting-started.md against a headless make dev: every
// `sh guide` block in order, in one shell, and every output the guide shows is matched (see
// guide_parse_test.go for the markers). $BROWSER is bin/dev-follow, which approves the login
// as a reader would in the browser.
func TestGettingStartedGuide(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the getting-started guide (about two minutes)")
	}
	for _, tool := range []string{"make", "bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the guide's commands need it", tool)
		}
	}
	path := kubectlPath(t)
	doc, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseGuide(string(doc))
	if err != nil {
		t.Fatalf("%s: %v", guidePath, err)
	}
	if len(steps) < 10 || !steps[0].start || firstLine(steps[0].commands) != "make dev" {
		t.Fatalf("%s: want make dev (sh guide start) first and at least 10 steps, found %d", guidePath, len(steps))
	}

	began := time.Now()
	dir := t.TempDir()
	oauthAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	gatewayAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	toTest := strings.NewReplacer(guideOAuthAddr, oauthAddr, guideGatewayAddr, gatewayAddr, guideDevDir, dir+"/")
	toGuide := strings.NewReplacer(oauthAddr, guideOAuthAddr, gatewayAddr, guideGatewayAddr, dir, filepath.Join(repoRoot, "bin", "dev"))

	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "KUBECONFIG", "BROWSER", "PATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL":
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "BROWSER="+filepath.Join(repoRoot, "bin", "dev-follow"), "PATH="+path,
		"MCPPROXY_TOKEN_STORE="+filepath.Join(dir, "probe-tokens.db"))
	scratch := t.TempDir()
	sh, err := startGuideShell(repoRoot, scratch, env)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.close()

	var dev *makeDev
	for _, step := range steps {
		if step.start {
			dev = startGuideDev(t, step, dir, oauthAddr, gatewayAddr, toGuide)
			continue
		}
		if dev == nil {
			t.Fatalf("%s runs before make dev started", step)
		}
		runGuideStep(t, sh, dev, step, toTest, toGuide)
	}

	// Ctrl-C in make dev's terminal stops everything.
	if err := syscall.Kill(-dev.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("make dev did not stop within 60s of SIGINT:\n%s", dev.output())
	}
	if !strings.Contains(dev.output(), "Stopped.") {
		t.Errorf("make dev did not report a clean stop:\n%s", dev.output())
	}
	t.Logf("the guide's %d steps took %s", len(steps), time.Since(began).Round(time.Second))
}

// kubectlPath is the PATH of the guide's shell: the control plane's directory first, where
// hack/build-control-plane.sh puts a kubectl (a link to the one installed, or one it built).
func kubectlPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PATH")
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
		if _, err := os.Stat(filepath.Join(assets, "kubectl")); err == nil {
			return assets + string(os.PathListSeparator) + path
		}
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("no kubectl in $KUBEBUILDER_ASSETS (make test puts one there) or on the PATH")
	}
	return path
}

// startGuideDev starts make dev as the guide's first block says, and waits until its output is
// what the guide shows (the banner).
func startGuideDev(t *testing.T, step guideStep, dir, oauthAddr, gatewayAddr string, toGuide *strings.Replacer) *makeDev {
	t.Helper()
	if strings.TrimSpace(step.commands) != "make dev" {
		t.Fatalf("%s: the test can start only `make dev`", step)
	}
	_, oauthPort, _ := strings.Cut(oauthAddr, ":")
	dev := startMakeDev(t, dir, "DEV_OAUTH_PORT="+oauthPort, "DEV_GATEWAY_ADDR="+gatewayAddr,
		"DEV_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"DEV_PROBE_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)))
	if step.output == nil {
		return dev
	}
	// Building the binaries and starting the control plane take most of this.
	deadline := time.Now().Add(4 * time.Minute)
	for !outputMatches(*step.output, toGuide.Replace(dev.output())) {
		select {
		case <-dev.done:
			t.Fatalf("make dev exited:\n%s", dev.output())
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: make dev's output never matched the guide.\n--- guide ---\n%s\n--- make dev (normalised) ---\n%s",
				step, normaliseOutput(*step.output), normaliseOutput(toGuide.Replace(dev.output())))
		}
	}
	return dev
}

// runGuideStep runs one block and matches its exit status and output, re-running an
// eventually block until they match.
func runGuideStep(t *testing.T, sh *guideShell, dev *makeDev, step guideStep, toTest, toGuide *strings.Replacer) {
	t.Helper()
	deadline := time.Now().Add(step.eventually)
	for attempt := 1; ; attempt++ {
		out, code, err := sh.run(toTest.Replace(step.commands), stepTimeout)
		if err != nil {
			t.Fatalf("%s: %v\n%s\nmake dev said:\n%s", step, err, out, dev.output())
		}
		out = toGuide.Replace(out)
		matched := step.output == nil || outputMatches(*step.output, out)
		if code == step.exit && matched {
			t.Logf("%s: ok (attempt %d)", step, attempt)
			return
		}
		if time.Now().After(deadline) {
			want := "(not shown)"
			if step.output != nil {
				want = normaliseOutput(*step.output)
			}
			t.Fatalf("%s: exit %d (want %d) after %d attempts\n--- guide ---\n%s\n--- got (normalised) ---\n%s\n--- make dev said ---\n%s",
				step, code, step.exit, attempt, want, normaliseOutput(out), dev.output())
		}
		select {
		case <-dev.done:
			t.Fatalf("%s: make dev exited:\n%s", step, dev.output())
		case <-time.After(time.Second):
		}
	}
}
