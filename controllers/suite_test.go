package controllers_test

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// The integration tests run the real reconciler in a real manager (wired by internal/app, as
// the binary is) against a real kube-apiserver (envtest), test/oauthserver on loopback and a
// bbolt file in a temp dir. Assertions read the API server directly (not the manager's
// cache), the oauth server's counters and the store. They are an external test package:
// testenv imports internal/app, which imports controllers.
var apiClient client.Client

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.MainOptions{Setup: func(env *testenv.Env) (func(), error) {
		apiClient = env.Client
		return func() {}, nil
	}})
}

// harness is one running manager with its store, for one test namespace.
type harness = testenv.Manager

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string { return testenv.NewNamespace(t, "it") }

// startHarness runs a manager watching ns on the token store at storePath (a temp file when
// empty), with a durable (fsync'd) store as in production. Its log (up to V(1)) is kept for
// leak checks and shown in the test log.
func startHarness(t *testing.T, ns, storePath string) *harness {
	t.Helper()
	return testenv.StartManager(t, testenv.ManagerOptions{Namespace: ns, StorePath: storePath, LogVerbosity: 1})
}
