package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// The integration tests run the real reconciler and the gateway in one real manager against a
// real kube-apiserver (envtest, which authorizes with RBAC and signs ServiceAccount tokens),
// test/oauthserver on loopback and a bbolt token store in a temp dir. Callers are official
// Go SDK MCP clients.
var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	scheme     = runtime.NewScheme()
	apiClient  client.Client
)

func TestMain(m *testing.M) {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mcpv1alpha1.AddToScheme(scheme)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("KUBEBUILDER_ASSETS is not set: run `make test` (it builds etcd and kube-apiserver once)")
		os.Exit(1)
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if restConfig, err = testEnv.Start(); err != nil {
		fmt.Println("starting envtest:", err)
		os.Exit(1)
	}
	if apiClient, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Println("client:", err)
		_ = testEnv.Stop()
		os.Exit(1)
	}
	code := m.Run()
	_ = testEnv.Stop()
	os.Exit(code)
}

// harness is one running manager (reconciler and gateway) with its store, for one namespace.
type harness struct {
	t     *testing.T
	ns    string
	store *tokenstore.Store
	gw    *Gateway
	url   string // the gateway's base URL
	stop  context.CancelFunc
	done  chan struct{}
	// logs holds every line the gateway logged, shown when the test fails.
	logs *logCapture
}

// logCapture collects log lines.
type logCapture struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logCapture) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
	l.b.WriteByte('\n')
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gw-"}}
	if err := apiClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// startHarness runs a manager watching ns with the gateway on a loopback port. tweak may
// change the gateway options (loopback callers are let in without a token unless it says not).
func startHarness(t *testing.T, ns string, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, ns: ns, done: make(chan struct{}), logs: &logCapture{}}
	store, err := tokenstore.Open(filepath.Join(t.TempDir(), "tokens.db"), tokenstore.Options{})
	if err != nil {
		t.Fatalf("opening the token store: %v", err)
	}
	h.store = store
	handOvers, _ := labels.NewRequirement(mcpv1alpha1.HandOverServerLabel, selection.Exists, nil)
	log := testr.NewWithOptions(t, testr.Options{Verbosity: 0})
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:     scheme,
		Logger:     log,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{ns: {}},
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Secret{}: {Label: labels.NewSelector().Add(*handOvers)},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	events := controllers.NewSignals()
	sessions := mcpconn.NewPool("mcpproxy-operator-test", events.Wake)
	r := &controllers.UpstreamServerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: store, OAuth: controllers.HTTPOAuthClient{},
		Sessions: sessions, Recorder: mgr.GetEventRecorder("mcpproxy-operator"), Clock: clock.RealClock{},
	}
	if err := r.SetupWithManager(mgr, events); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Addr: "127.0.0.1:0", Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: store,
		Informers: mgr.GetCache(), Notify: events.Wake, AllowLoopbackUnauthenticated: true,
		Logger: funcr.New(func(prefix, args string) { h.logs.add(prefix + " " + args) }, funcr.Options{}).WithName("gateway"),
	}
	if tweak != nil {
		tweak(&opts)
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(gw); err != nil {
		t.Fatal(err)
	}
	h.gw, h.url = gw, "http://"+gw.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() {
		defer close(h.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
		sessions.CloseAll()
		_ = store.Close()
	}()
	t.Cleanup(func() {
		h.Stop()
		if t.Failed() {
			t.Logf("gateway log:\n%s", h.logs.String())
		}
	})
	return h
}

// Stop stops the manager and closes the store; safe to call twice.
func (h *harness) Stop() {
	h.stop()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		h.t.Errorf("manager did not stop within 30s")
	}
}

// serverURL is the gateway's pass-through URL of a server.
func (h *harness) serverURL(name string) string {
	return h.url + "/servers/" + h.ns + "/" + name + "/mcp"
}
