package deploy

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// repoRoot is the repository, relative to this package.
var repoRoot = filepath.Join("..", "..")

// The API server the dry runs go to, and what it said while they ran.
var (
	restCfg  *rest.Config
	dyn      *dynamic.DynamicClient
	kubeVer  string // e.g. v1.37.2, passed to helm template --kube-version
	warnings = &warningRecorder{}
	chartDir = filepath.Join(repoRoot, "charts", "mcpproxy-operator")
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test` (it builds etcd and kube-apiserver once and sets HELM and KUSTOMIZE too)")
		os.Exit(1)
	}
	env := &envtest.Environment{
		// The project's CRD, and prometheus-operator's ServiceMonitor (reduced to its name) so
		// the chart's optional ServiceMonitor can be applied too.
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases"), filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		os.Exit(1)
	}
	code := func() int {
		restCfg = rest.CopyConfig(cfg)
		restCfg.WarningHandler = warnings
		if dyn, err = dynamic.NewForConfig(restCfg); err != nil {
			fmt.Fprintln(os.Stderr, "dynamic client:", err)
			return 1
		}
		return m.Run()
	}()
	_ = env.Stop()
	os.Exit(code)
}

// warningRecorder keeps the warnings the API server sends (e.g. PodSecurity's), so a test can
// fail on them.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *warningRecorder) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

// take returns the warnings received since the last call and forgets them.
func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// tool finds an executable named by an environment variable that `make test` sets.
func tool(t *testing.T, env, name string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Fatalf("%s is not set: run `make test`, or set %s to a %s binary (make %s installs one into ./bin)", env, env, name, strings.ToLower(name))
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v (make %s installs it)", env, path, err, strings.ToLower(name))
	}
	return path
}

// restClientHTTP is the HTTP client for restCfg, for the REST mapper.
func restClientHTTP() (*http.Client, error) { return rest.HTTPClientFor(restCfg) }
