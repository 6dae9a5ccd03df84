package devsmoke

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

var repoRoot, _ = filepath.Abs(filepath.Join("..", "..", ".."))

func TestMakeDevHeadless(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the make dev smoke test (about a minute)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	// The login needs the CLI; it is built by make dev too, but a failure here is a clear skip.
	if out, err := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "mcpproxy"), filepath.Join(repoRoot, "cmd", "mcpproxy")).CombinedOutput(); err != nil {
		t.Skipf("bin/mcpproxy cannot be built yet, so `mcpproxy auth login demo` cannot run: %v\n%s", err, out)
	}

	dir := t.TempDir()
	oauthPort := freePort(t)
	gatewayAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	dev := startMakeDev(t, dir,
		"DEV_AUTO_APPROVE=1", "DEV_TOKEN_TTL=5s",
		"DEV_OAUTH_PORT="+strconv.Itoa(oauthPort),
		"DEV_METRICS_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"DEV_PROBE_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"DEV_GATEWAY_ADDR="+gatewayAddr)

	// Building the binaries and starting the control plane take most of this.
	c := waitForClient(t, dev, filepath.Join(dir, "kubeconfig"), 4*time.Minute)
	waitFor(t, dev, c, "AuthorizationRequired=True", 60*time.Second, needsLogin)

	// The banner shows how a workload gets to call the gateway: a ServiceAccount, the sample
	// Role and RoleBinding (YAML: kubectl refuses --verb=use), a token and a first call.
	dev.waitOutput(t, "docs/getting-started.md walks through the rest", 10*time.Second)
	for _, want := range []string{
		"      kubectl create serviceaccount demo-agent\n",
		"      kubectl apply -f config/samples/gateway_rbac_demo.yaml\n",
		"      kubectl create token demo-agent | bin/mcpproxy probe --token-file - http://" + gatewayAddr + "/servers/default/demo/mcp\n",
	} {
		if !strings.Contains(dev.output(), want) {
			t.Errorf("make dev's banner lacks %q:\n%s", want, dev.output())
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "config", "samples", "gateway_rbac_demo.yaml")); err != nil {
		t.Errorf("the banner's RBAC sample is missing: %v", err)
	}

	login := exec.Command(filepath.Join(repoRoot, "bin", "mcpproxy"), "auth", "login", "demo", "--timeout=60s")
	login.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"), "BROWSER="+filepath.Join(repoRoot, "bin", "dev-follow"))
	if out, err := runWithin(login, 90*time.Second); err != nil {
		t.Fatalf("mcpproxy auth login demo: %v\n%s\nmake dev said:\n%s", err, out, dev.output())
	}
	waitFor(t, dev, c, "Ready=True", 30*time.Second, isReady)
	waitFor(t, dev, c, "a refresh (status.token.lastRefreshTime)", 30*time.Second, wasRefreshed)
	dev.waitOutput(t, "Refreshed token", 10*time.Second)

	// Ctrl-C: the terminal sends SIGINT to the foreground process group.
	procs := descendants(dev.cmd.Process.Pid)
	for _, name := range []string{"devrun", "etcd", "kube-apiserver", "bin/manager", "bin/oauthserver"} {
		if !containsCmd(procs, name) {
			t.Errorf("no %s process under make dev: %v", name, procs)
		}
	}
	if err := syscall.Kill(-dev.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("make dev did not stop within 60s of SIGINT:\n%s", dev.output())
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range procs {
		for p.alive() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if p.alive() {
			t.Errorf("process %d (%s) outlived make dev", p.pid, p.cmd)
		}
	}
	if !strings.Contains(dev.output(), "Stopped.") {
		t.Errorf("make dev did not report a clean stop:\n%s", dev.output())
	}
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(oauthPort)); err != nil {
		t.Errorf("the demo OAuth port is still taken after make dev stopped: %v", err)
	} else {
		_ = l.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "tokens.db")); err != nil {
		t.Errorf("the token store was not kept in DEV_DIR: %v", err)
	}
	t.Logf("make dev output:\n%s", dev.output())
}

// makeDev is a running `make dev`.
type makeDev struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func (d *makeDev) output() string { return d.out.String() }

// waitOutput polls make dev's output for s.
func (d *makeDev) waitOutput(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(d.output(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("make dev never printed %q:\n%s", s, d.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startMakeDev runs make dev in its own process group, as a shell runs a foreground job, with
// its state in dir. Cleanup kills whatever is left should the test fail half-way.
func startMakeDev(t *testing.T, dir string, env ...string) *makeDev {
	t.Helper()
	d := &makeDev{out: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command("make", "-s", "--no-print-directory", "dev", "DEV_DIR="+dir)
	d.cmd.Dir = repoRoot
	// A fresh make, as typed in a terminal: not a sub-make of `make test` (whose jobserver
	// descriptors the go test process does not pass on).
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			d.cmd.Env = append(d.cmd.Env, kv)
		}
	}
	d.cmd.Env = append(d.cmd.Env, env...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting make dev: %v", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
			return
		default:
		}
		left := descendants(d.cmd.Process.Pid)
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		for _, p := range left {
			p.kill()
		}
		<-d.done
		t.Logf("make dev output:\n%s", d.output())
	})
	return d
}

// waitForClient waits for make dev to write its kubeconfig and the API server to answer.
func waitForClient(t *testing.T, d *makeDev, kubeconfig string, timeout time.Duration) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := mcpv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.done:
			t.Fatalf("make dev exited early:\n%s", d.output())
		default:
		}
		if cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig); err == nil {
			if c, err := client.New(cfg, client.Options{Scheme: scheme}); err == nil {
				if err := c.List(context.Background(), &mcpv1alpha1.UpstreamServerList{}); err == nil {
					return c
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("make dev's control plane did not answer within %s:\n%s", timeout, d.output())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitFor polls the demo UpstreamServer on the API server until cond holds.
func waitFor(t *testing.T, d *makeDev, c client.Client, what string, timeout time.Duration, cond func(*mcpv1alpha1.UpstreamServer) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	us := &mcpv1alpha1.UpstreamServer{}
	for {
		err := c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "demo"}, us)
		if err == nil && cond(us) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo never reached %s within %s (last error %v, status %+v):\n%s", what, timeout, err, us.Status, d.output())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func needsLogin(us *mcpv1alpha1.UpstreamServer) bool {
	return meta.IsStatusConditionTrue(us.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired)
}

func isReady(us *mcpv1alpha1.UpstreamServer) bool {
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue
}

func wasRefreshed(us *mcpv1alpha1.UpstreamServer) bool {
	return isReady(us) && us.Status.Token != nil && us.Status.Token.LastRefreshTime != nil
}

// runWithin runs cmd and kills it after timeout.
func runWithin(cmd *exec.Cmd, timeout time.Duration) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return out.Bytes(), fmt.Errorf("still running after %s", timeout)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func containsCmd(procs []proc, name string) bool {
	for _, p := range procs {
		if strings.Contains(p.cmd, name) {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
