package controllers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
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
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// The integration tests run the real reconciler in a real manager against a real kube-apiserver
// (envtest), test/oauthserver on loopback and a bbolt file in a temp dir. Assertions read the
// API server directly (not the manager's cache), the oauth server's counters and the store.
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

// harness is one running manager with its store, for one test namespace.
type harness struct {
	t         *testing.T
	ns        string
	store     *tokenstore.Store
	storePath string
	stop      context.CancelFunc
	done      chan struct{}
	sessions  *mcpconn.Pool
	logMu     sync.Mutex
	logs      []string
	// statusPatches counts PATCH requests to the status subresource made by the manager.
	statusPatches atomic.Int64
}

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-"}}
	if err := apiClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// startHarness opens the token store at storePath (a temp file when empty) and runs a manager
// watching ns.
func startHarness(t *testing.T, ns, storePath string) *harness {
	t.Helper()
	if storePath == "" {
		storePath = filepath.Join(t.TempDir(), "tokens.db")
	}
	h := &harness{t: t, ns: ns, storePath: storePath, done: make(chan struct{})}
	store, err := tokenstore.Open(storePath, tokenstore.Options{})
	if err != nil {
		t.Fatalf("opening the token store: %v", err)
	}
	h.store = store

	cfg := rest.CopyConfig(restConfig)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch && len(r.URL.Path) > 7 && r.URL.Path[len(r.URL.Path)-7:] == "/status" {
				h.statusPatches.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	handOvers, _ := labels.NewRequirement(mcpv1alpha1.HandOverServerLabel, selection.Exists, nil)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     scheme,
		Logger:     h.logger(t),
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
	events := NewSignals()
	sessions := mcpconn.NewPool("mcpproxy-operator-test", events.Wake)
	h.sessions = sessions
	r := &UpstreamServerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: store, OAuth: HTTPOAuthClient{},
		Sessions: sessions, Recorder: mgr.GetEventRecorder("mcpproxy-operator"), Clock: clock.RealClock{},
	}
	if err := r.SetupWithManager(mgr, events); err != nil {
		t.Fatal(err)
	}
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
	t.Cleanup(h.Stop)
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

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sessionsConnected reports whether this manager holds a healthy session for us.
func (h *harness) sessionsConnected(us *mcpv1alpha1.UpstreamServer) bool {
	s := h.sessions.Get(sessionKey(us))
	return s != nil && s.Healthy()
}

// logger records every line the manager writes (for leak checks) and shows it in the test log.
func (h *harness) logger(t *testing.T) logr.Logger {
	return funcr.New(func(prefix, args string) {
		line := prefix + " " + args
		h.logMu.Lock()
		h.logs = append(h.logs, line)
		h.logMu.Unlock()
		t.Log(line)
	}, funcr.Options{Verbosity: 1})
}

// allLogs returns every line logged so far.
func (h *harness) allLogs() []string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return append([]string(nil), h.logs...)
}
