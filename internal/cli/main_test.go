package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	corev1 "k8s.io/api/core/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// The end-to-end tests run the real reconciler in a real manager against a real kube-apiserver
// (envtest) and test/oauthserver, and drive the CLI through its cobra commands with a
// kubeconfig, as a person would. $BROWSER is this test binary re-executed as a headless
// browser (see browserHelper). Without KUBEBUILDER_ASSETS (set by `make test`) only the tests
// that need no cluster run.
var (
	apiClient      client.Client
	kubeconfigPath string
)

const helperArg = "browser-helper"

func TestMain(m *testing.M) {
	if len(os.Args) >= 4 && os.Args[1] == helperArg {
		os.Exit(browserHelper(os.Args[2], os.Args[3]))
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("KUBEBUILDER_ASSETS is not set: the envtest tests are skipped (run `make test`)")
		os.Exit(m.Run())
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
	dir, _ := os.MkdirTemp("", "mcpproxy-cli-e2e-")
	stop, err := startManager(cfg, dir)
	code := 1
	if err != nil {
		fmt.Println("starting the manager:", err)
	} else {
		code = m.Run()
		stop()
	}
	_ = env.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startManager runs the real reconciler as cmd/manager wires it, and writes a kubeconfig.
func startManager(cfg *rest.Config, dir string) (func(), error) {
	ctrl.SetLogger(crzap.New(crzap.WriteTo(os.Stderr), crzap.Level(zapcore.ErrorLevel)))
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mcpv1alpha1.AddToScheme(scheme)
	var err error
	if apiClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	kubeconfigPath = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(cfg, kubeconfigPath); err != nil {
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
	events := controllers.NewSignals()
	sessions := mcpconn.NewPool("mcpproxy-operator", events.Wake)
	r := &controllers.UpstreamServerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: store,
		OAuth: controllers.HTTPOAuthClient{}, Sessions: sessions,
		Recorder: mgr.GetEventRecorder("mcpproxy-operator"), Clock: clock.RealClock{},
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
		sessions.CloseAll()
		_ = store.Close()
	}, nil
}

func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}

// needCluster skips a test when no API server runs.
func needCluster(t *testing.T) {
	t.Helper()
	if apiClient == nil {
		t.Skip("needs KUBEBUILDER_ASSETS (run `make test`)")
	}
}

// useBrowser points $BROWSER at this test binary as a headless browser in the given mode.
func useBrowser(t *testing.T, mode string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", exe+" "+helperArg+" "+mode)
}

// browserHelper plays a browser for authURL against an auto-approving authorization server:
// "follow" delivers the redirect to the loopback callback, "wrongstate" delivers it with another
// state, "deny" delivers access_denied, "ignore" does nothing (the login times out).
func browserHelper(mode, authURL string) int {
	if mode == "ignore" {
		return 0
	}
	hc := &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Get(authURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser-helper:", err)
		return 1
	}
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser-helper: no redirect:", resp.Status)
		return 1
	}
	q := loc.Query()
	switch mode {
	case "wrongstate":
		q.Set("state", "not-the-state-that-was-sent")
	case "deny":
		q.Del("code")
		q.Set("error", "access_denied")
		q.Set("error_description", "The user denied the request")
	}
	loc.RawQuery = q.Encode()
	resp, err = hc.Get((&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path, RawQuery: loc.RawQuery}).String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser-helper: callback:", err)
		return 1
	}
	_ = resp.Body.Close()
	return 0
}
