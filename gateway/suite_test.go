package gateway_test

import (
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// The integration tests run the real reconciler and the gateway in one real manager (wired by
// internal/app, as the binary is) against a real kube-apiserver (envtest, which authorizes with
// RBAC and signs ServiceAccount tokens), test/oauthserver on loopback and a bbolt token store
// in a temp dir. Callers are official Go SDK MCP clients. They are an external test package
// (testenv imports internal/app, which imports gateway); the package under test is
// dot-imported so its exported names read as before.
var apiClient client.Client

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.MainOptions{Setup: func(env *testenv.Env) (func(), error) {
		apiClient = env.Client
		return func() {}, nil
	}})
}

// harness is one running manager (reconciler and gateway) with its store, for one namespace.
type harness struct {
	*testenv.Manager
	ns  string
	url string // the gateway's base URL
	// logs holds every line the gateway logged, shown when the test fails.
	logs gatewayLog
}

// gatewayLog is what the harness's gateway logged.
type gatewayLog struct{ m *testenv.Manager }

func (l gatewayLog) String() string { return l.m.GatewayLogs() }

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string { return testenv.NewNamespace(t, "gw") }

// startHarness runs a manager watching ns with the gateway on a loopback port. tweak may
// change the gateway options (loopback callers are let in without a token unless it says not).
func startHarness(t *testing.T, ns string, tweak func(*Options)) *harness {
	t.Helper()
	m := testenv.StartManager(t, testenv.ManagerOptions{Namespace: ns,
		Gateway: &app.GatewayOptions{AllowLoopbackUnauthenticated: true, Tweak: tweak}})
	h := &harness{Manager: m, ns: ns, url: m.URL, logs: gatewayLog{m}}
	gatewayViews.add(ns, m.Gateway)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", h.logs.String())
		}
	})
	return h
}

// serverURL is the gateway's pass-through URL of a server.
func (h *harness) serverURL(name string) string {
	return h.url + "/servers/" + h.ns + "/" + name + "/mcp"
}

// gatewayViews holds, per namespace, the harnesses' gateways. waitReady waits for them too:
// the API server may say Ready while a gateway's informer has not yet delivered that status,
// and a request in between is (rightly) answered 503.
var gatewayViews = &views{byNS: map[string][]*Gateway{}}

type views struct {
	mu   sync.Mutex
	byNS map[string][]*Gateway
}

func (v *views) add(ns string, g *Gateway) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.byNS[ns] = append(v.byNS[ns], g)
}

func (v *views) of(ns string) []*Gateway {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*Gateway(nil), v.byNS[ns]...)
}
