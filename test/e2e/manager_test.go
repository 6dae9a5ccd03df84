package e2e

import (
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/proc"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// manager is bin/manager for one scenario: its token store persists across restarts.
type manager struct {
	name  string
	store string
	env   []string
	args  []string
	cur   *proc.Process
	// gateway is the address of the manager's MCP gateway (loopback callers need no token).
	gateway string
}

// newManager prepares a manager with its own token store; start runs it.
func newManager(t *testing.T, name string, browserLogin bool, env []string) *manager {
	t.Helper()
	m := &manager{name: name, store: filepath.Join(runDir, "store-"+name, "tokens.db"), env: env, gateway: freeAddr(t)}
	m.args = []string{"--token-store=" + m.store, "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--gateway-bind-address=" + m.gateway, "--gateway-allow-loopback-unauthenticated", "--zap-log-level=debug"}
	if browserLogin {
		m.args = append(m.args, "--browser-login")
	}
	t.Cleanup(func() {
		if m.cur != nil {
			stopProc(m.cur)
		}
	})
	return m
}

// onSecrets moves the manager's tokens from its bbolt file to the Secrets of storeNS, sealed
// with keyFile, and limits it to namespace ns (a scenario whose managers run side by side must
// leave the other scenarios' servers alone). Call it before start.
func (m *manager) onSecrets(ns, storeNS, keyFile string) {
	m.args = slices.DeleteFunc(m.args, func(a string) bool { return strings.HasPrefix(a, "--token-store=") })
	m.args = append(m.args, "--token-store-backend=secrets", "--token-store-namespace="+storeNS,
		"--token-encryption-key-file="+keyFile, "--namespaces="+ns)
	m.store = ""
}

// authenticatedGateway drops --gateway-allow-loopback-unauthenticated: every gateway caller,
// loopback included, needs a Kubernetes bearer token (TokenReview) and the verb use on the
// server (SubjectAccessReview), as in a cluster. Call it before start.
func (m *manager) authenticatedGateway() {
	m.args = slices.DeleteFunc(m.args, func(a string) bool { return a == "--gateway-allow-loopback-unauthenticated" })
}

// start runs a new manager process (the previous one must have ended).
func (m *manager) start(t *testing.T) *proc.Process {
	t.Helper()
	if m.cur != nil && !m.cur.Exited() {
		t.Fatal("manager started twice")
	}
	env := append([]string{"KUBECONFIG=" + controlPlane.KubeconfigPath}, m.env...)
	m.cur = startProc(t, "manager-"+m.name, env, bins.manager, m.args...)
	return m.cur
}

// kill crashes the manager (SIGKILL).
func (m *manager) kill() { m.cur.Kill() }

// stop shuts the manager down gracefully (SIGTERM).
func (m *manager) stop() { stopProc(m.cur) }

// checkAlive fails the test if the manager died on its own.
func (m *manager) checkAlive(t *testing.T) {
	t.Helper()
	if m.cur.Exited() {
		t.Fatalf("manager exited unexpectedly: %v\n%s", m.cur.Err(), tail(m.cur.Log(), 3000))
	}
}

// record reads a server's token record from the store; the manager must be stopped (bbolt
// holds a file lock).
func (m *manager) record(t *testing.T, us *mcpv1alpha1.UpstreamServer) *tokenstore.Record {
	t.Helper()
	return m.recordAt(t, upstream.StoreKey(us), us.Namespace+"/"+us.Name)
}

// credentialRecord reads a credential's token record from the store (the manager must be
// stopped).
func (m *manager) credentialRecord(t *testing.T, us *mcpv1alpha1.UpstreamServer, c *mcpv1alpha1.UpstreamCredential) *tokenstore.Record {
	t.Helper()
	return m.recordAt(t, upstream.CredentialStoreKey(us, c), "credential "+c.Namespace+"/"+c.Name)
}

// recordAt reads the record under key (nil if there is none); what names it in failures.
func (m *manager) recordAt(t *testing.T, key tokenstore.Key, what string) *tokenstore.Record {
	t.Helper()
	if m.cur != nil && !m.cur.Exited() {
		t.Fatal("reading the token store while the manager runs")
	}
	s, err := tokenstore.Open(m.store, tokenstore.Options{OpenTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("opening the token store: %v", err)
	}
	defer func() { _ = s.Close() }()
	rec, err := s.Load(key)
	if errors.Is(err, tokenstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("loading %s from the token store: %v", what, err)
	}
	return rec
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
