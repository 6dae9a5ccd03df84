package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// These tests run the manager as the binary wires it with --browser-login (internal/app)
// against envtest and test/oauthserver. $BROWSER is this test binary re-executed as a
// headless browser.
var (
	apiClient client.Client
	adapter   *app.BrowserLogin
)

const helperArg = "browser-helper"

func TestMain(m *testing.M) {
	// browser-helper MODE LOGFILE URL
	if len(os.Args) == 5 && os.Args[1] == helperArg {
		os.Exit(browserHelper(os.Args[2], os.Args[3], os.Args[4]))
	}
	testenv.Main(m, testenv.MainOptions{Setup: func(env *testenv.Env) (func(), error) {
		apiClient = env.Client
		// A flow notices a manual login only if one poll falls between the status saying
		// AuthorizationRequired and the login clearing it, which here is about 100ms apart.
		mgr, err := testenv.RunManager(env, testenv.ManagerOptions{
			NoSync: true, BrowserLogin: true, BrowserLoginPoll: 20 * time.Millisecond,
		})
		if err != nil {
			return nil, err
		}
		adapter = mgr.BrowserLogin
		return func() { _ = mgr.Stop() }, nil
	}})
}

// browserHelper appends a line to logFile, then plays the browser for authURL: "follow"
// delivers the auto-approved redirect to the loopback callback; "ignore" does nothing.
func browserHelper(mode, logFile, authURL string) int {
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err == nil {
		_, _ = f.WriteString(mode + "\n")
		_ = f.Close()
	}
	if mode != "follow" {
		return 0
	}
	hc := &http.Client{Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	if err != nil {
		return 1
	}
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return 1
	}
	if resp, err = hc.Get(loc.String()); err != nil {
		return 1
	}
	_ = resp.Body.Close()
	return 0
}

// useBrowser sets $BROWSER to the helper in mode and returns the file counting its runs.
func useBrowser(t *testing.T, mode string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "opens")
	t.Setenv("BROWSER", exe+" "+helperArg+" "+mode+" "+log)
	return log
}

func opens(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

func newServer(t *testing.T, name, url string) types.NamespacedName {
	t.Helper()
	ns := testenv.NewNamespace(t, "bl")
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: url}}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return types.NamespacedName{Namespace: ns, Name: name}
}

func condTrue(t *testing.T, key types.NamespacedName, typ string) bool {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), key, us); err != nil {
		return false
	}
	return meta.IsStatusConditionTrue(us.Status.Conditions, typ)
}

func TestControllerLogsInThroughTheBrowser(t *testing.T) {
	log := useBrowser(t, "follow")
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	key := newServer(t, "self", srv.MCPURL())
	testenv.Eventually(t, 60*time.Second, "the server is Ready after the controller's own login", func() bool {
		return condTrue(t, key, mcpv1alpha1.ConditionReady)
	})
	if n := opens(log); n != 1 {
		t.Errorf("browser opened %d times, want 1", n)
	}
	if adapter.Running(key.String()) != nil {
		t.Error("a flow is still running after the login")
	}
}

func TestManualLoginDuringAControllerFlowWins(t *testing.T) {
	log := useBrowser(t, "ignore") // the person never finishes the controller's flow
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	key := newServer(t, "manual", srv.MCPURL())
	testenv.Eventually(t, 30*time.Second, "the controller opened the browser", func() bool { return opens(log) == 1 })
	flow := adapter.Running(key.String())
	if flow == nil {
		t.Fatal("no flow is running")
	}
	// More reconciles asking for a login join the running flow instead of opening again.
	us := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), key, us); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		adapter.RequestLogin(us, oauthConfigFor(us))
	}

	// Meanwhile the person runs `mcpproxy auth login`, whose hand-over the controller takes.
	testenv.Login(t, srv, us) // what `mcpproxy auth login` does
	testenv.Eventually(t, 30*time.Second, "the server is Ready after the manual login", func() bool {
		return condTrue(t, key, mcpv1alpha1.ConditionReady)
	})
	select {
	case <-flow.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the controller's flow was not cancelled after the manual login")
	}
	if opens(log) != 1 {
		t.Errorf("browser opened %d times, want 1", opens(log))
	}
	if !condTrue(t, key, mcpv1alpha1.ConditionReady) {
		t.Error("the server lost Ready after the controller's flow ended")
	}
}

func oauthConfigFor(us *mcpv1alpha1.UpstreamServer) oauth.Config {
	return oauth.Config{ServerURL: us.Spec.URL}
}

func TestControllerFlowStopsWhenTheServerIsDeleted(t *testing.T) {
	log := useBrowser(t, "ignore")
	srv := testenv.StartOAuthServer(t, oauthserver.Options{})
	key := newServer(t, "doomed", srv.MCPURL())
	testenv.Eventually(t, 30*time.Second, "the controller opened the browser", func() bool { return opens(log) == 1 })
	flow := adapter.Running(key.String())
	if flow == nil {
		t.Fatal("no flow is running")
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := apiClient.Delete(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	select {
	case <-flow.Done():
		if err := flow.Err(); err == nil || !strings.Contains(err.Error(), "deleted") {
			t.Errorf("flow ended with %v, want a deletion cause", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the flow kept running for a deleted server")
	}
	var secrets corev1.SecretList
	if err := apiClient.List(context.Background(), &secrets, client.InNamespace(key.Namespace)); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("%d Secrets left for a deleted server", len(secrets.Items))
	}
}
