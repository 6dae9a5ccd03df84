package tokenstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// childEnv selects a child-process role when the test binary re-executes
// itself (lock contention, crash test).
const childEnv = "TOKENSTORE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		code := m.Run()
		if benchTemplate.dir != "" {
			_ = os.RemoveAll(benchTemplate.dir)
		}
		os.Exit(code)
	case "lock":
		os.Exit(childLock())
	case "crash":
		os.Exit(childCrash())
	default:
		os.Exit(3)
	}
}

// testLogger collects log lines so tests can assert on them.
type testLogger struct{ lines []string }

func (l *testLogger) logr() logr.Logger {
	return funcr.New(func(prefix, args string) { l.lines = append(l.lines, prefix+" "+args) }, funcr.Options{Verbosity: 10})
}

func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.db")
	return openTest(t, path, Options{}), path
}

func testKey(name string) Key {
	return Key{Namespace: "team-a", Name: name, Binding: Binding{
		ServerURL: "https://mcp.example.com/" + name, Issuer: "https://auth.example.com", ClientID: "client-" + name,
	}}
}

const (
	secretAccess  = "at-SECRET-0123456789"
	secretRefresh = "rt-SECRET-9876543210"
	secretClient  = "cs-SECRET-abcdef"
)

func testRecord(k Key) *Record {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return &Record{
		AccessToken: secretAccess, RefreshToken: secretRefresh, TokenType: "Bearer",
		Expiry: t0.Add(time.Hour), Scopes: []string{"mcp:read", "mcp:write"},
		Client: ClientRegistration{ClientID: k.Binding.ClientID, ClientSecret: secretClient,
			AuthMethod: "client_secret_basic", RedirectURI: "http://127.0.0.1:8976/callback"},
		Issuer: k.Binding.Issuer, TokenEndpoint: "https://auth.example.com/token",
		RevocationEndpoint: "https://auth.example.com/revoke", ServerURL: k.Binding.ServerURL,
		ObtainedAt: t0, RefreshedAt: t0.Add(time.Minute), RefreshCount: 3, CorrelationID: "corr-1",
	}
}
