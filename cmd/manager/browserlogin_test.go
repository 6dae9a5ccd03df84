package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// These tests run the manager's reconciler with --browser-login's adapter against envtest and
// test/oauthserver. $BROWSER is this test binary re-executed as a headless browser.
var (
	apiClient client.Client
	adapter   *browserLogin
)

const helperArg = "browser-helper"

func TestMain(m *testing.M) {
	// browser-helper MODE LOGFILE URL
	if len(os.Args) == 5 && os.Args[1] == helperArg {
		os.Exit(browserHelper(os.Args[2], os.Args[3], os.Args[4]))
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("KUBEBUILDER_ASSETS is not set: run `make test` (it builds etcd and kube-apiserver once)")
		os.Exit(1)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Println("starting envtest:", err)
		os.Exit(1)
	}
	dir, _ := os.MkdirTemp("", "mcpproxy-browserlogin-")
	code := 1
	if stop, err := startTestManager(cfg, dir); err != nil {
		fmt.Println("starting the manager:", err)
	} else {
		code = m.Run()
		stop()
	}
	_ = env.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startTestManager runs the reconciler as run() wires it, with the browser-login adapter.
func startTestManager(cfg *rest.Config, dir string) (func(), error) {
	ctrl.SetLogger(crzap.New(crzap.WriteTo(os.Stderr), crzap.Level(zapcore.ErrorLevel)))
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mcpv1alpha1.AddToScheme(scheme)
	var err error
	if apiClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	store, err := tokenstore.Open(filepath.Join(dir, "tokens.db"), tokenstore.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	handOvers, _ := labels.NewRequirement(mcpv1alpha1.HandOverServerLabel, selection.Exists, nil)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*handOvers)},
		}},
	})
	if err != nil {
		return nil, err
	}
	adapter = newBrowserLogin(mgr.GetClient(), ctrl.Log.WithName("browserlogin"), browserlogin.Options{})
	adapter.poll = 100 * time.Millisecond
	events := controllers.NewSignals()
	sessions := mcpconn.NewPool("mcpproxy-operator", events.Wake)
	r := &controllers.UpstreamServerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: store,
		OAuth: controllers.HTTPOAuthClient{}, Sessions: sessions,
		Recorder: mgr.GetEventRecorder("mcpproxy-operator"), Clock: clock.RealClock{},
		BrowserLogin: adapter,
	}
	if err := r.SetupWithManager(mgr, events); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Println("manager stopped:", err)
		}
	}()
	return func() {
		cancel()
		<-done
		adapter.Close()
		sessions.CloseAll()
		_ = store.Close()
	}, nil
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

func startOAuth(t *testing.T) *oauthserver.Server {
	t.Helper()
	srv := oauthserver.New(oauthserver.Options{AutoApprove: true})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func newServer(t *testing.T, name, url string) types.NamespacedName {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bl-"}}
	if err := apiClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: url}}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return types.NamespacedName{Namespace: ns.Name, Name: name}
}

func condTrue(t *testing.T, key types.NamespacedName, typ string) bool {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), key, us); err != nil {
		return false
	}
	return meta.IsStatusConditionTrue(us.Status.Conditions, typ)
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestControllerLogsInThroughTheBrowser(t *testing.T) {
	log := useBrowser(t, "follow")
	srv := startOAuth(t)
	key := newServer(t, "self", srv.MCPURL())
	eventually(t, "the server is Ready after the controller's own login", 60*time.Second, func() bool {
		return condTrue(t, key, mcpv1alpha1.ConditionReady)
	})
	if n := opens(log); n != 1 {
		t.Errorf("browser opened %d times, want 1", n)
	}
	if adapter.coord.Running(key.String()) != nil {
		t.Error("a flow is still running after the login")
	}
}

func TestManualLoginDuringAControllerFlowWins(t *testing.T) {
	log := useBrowser(t, "ignore") // the person never finishes the controller's flow
	srv := startOAuth(t)
	key := newServer(t, "manual", srv.MCPURL())
	eventually(t, "the controller opened the browser", 30*time.Second, func() bool { return opens(log) == 1 })
	flow := adapter.coord.Running(key.String())
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
	manualLogin(t, srv, us)
	eventually(t, "the server is Ready after the manual login", 30*time.Second, func() bool {
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

// manualLogin does what `mcpproxy auth login` does: a login on the person's side, handed over
// in a Secret.
func manualLogin(t *testing.T, srv *oauthserver.Server, us *mcpv1alpha1.UpstreamServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := oauth.Login(ctx, oauthConfigFor(us), oauth.LoginOptions{OpenBrowser: func(authURL string) error {
		go func() {
			loc, err := srv.FollowAuthorize(authURL)
			if err != nil {
				t.Errorf("authorize: %v", err)
				return
			}
			if resp, err := http.Get(loc.String()); err == nil {
				_ = resp.Body.Close()
			}
		}()
		return nil
	}})
	if err != nil {
		t.Fatalf("manual login: %v", err)
	}
	data, err := browserlogin.HandOver(res, us.Spec.URL, time.Now()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiClient.Create(ctx, mcpv1alpha1.NewHandOverSecret(us, data)); err != nil {
		t.Fatalf("handing over: %v", err)
	}
}

func TestControllerFlowStopsWhenTheServerIsDeleted(t *testing.T) {
	log := useBrowser(t, "ignore")
	srv := startOAuth(t)
	key := newServer(t, "doomed", srv.MCPURL())
	eventually(t, "the controller opened the browser", 30*time.Second, func() bool { return opens(log) == 1 })
	flow := adapter.coord.Running(key.String())
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
