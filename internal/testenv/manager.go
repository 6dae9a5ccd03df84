package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// ManagerOptions are the test-side choices of a manager; everything else is app's wiring,
// exactly as the binary runs it.
type ManagerOptions struct {
	// Namespace restricts the manager to one namespace (one test's); empty: the whole cluster.
	Namespace string
	// StorePath is the token store; empty means a new file in a temporary directory. Pass the
	// StorePath of a stopped manager to restart on the same store.
	StorePath string
	// NoSync skips fsync in the store (faster; loses saves on a crash, which no test makes).
	NoSync bool
	// TokenStoreBackend, with TokenStoreNamespace and KeyFile, runs the manager on another
	// token store (app.StoreBackendSecrets); empty: bbolt at StorePath.
	TokenStoreBackend, TokenStoreNamespace, KeyFile string
	// Clock is the reconciler's clock; nil means the real one.
	Clock clock.PassiveClock
	// BrowserLogin and BrowserLoginPoll enable the manager's own browser login.
	BrowserLogin     bool
	BrowserLoginPoll time.Duration
	// Gateway, when set, serves the gateway (Addr defaults to a loopback port, bound before
	// the manager starts so URL is known). Its log goes to GatewayLogs, not the test log,
	// unless Gateway.Logger is set.
	Gateway *app.GatewayOptions
	// LeaderElection, in LeaderElectionNamespace, lets only the elected one of the managers
	// sharing it run the controllers (app.Options.LeaderElection).
	LeaderElection          bool
	LeaderElectionNamespace string
	// WatchLabelSelector makes the manager one shard (app.Options.WatchLabelSelector), and
	// LeaderElectionID names its lease.
	WatchLabelSelector, LeaderElectionID string
	// LogVerbosity is the highest V-level kept in Logs and shown in the test log.
	LogVerbosity int
}

// Manager is a running manager wired by internal/app, with what tests observe of it.
type Manager struct {
	*app.Manager
	// Namespace and StorePath are the options it runs with (StorePath filled in).
	Namespace, StorePath string
	// URL is the gateway's base URL ("http://127.0.0.1:port"); empty without a gateway.
	URL string

	book, gatewayBook *logBook
	statusPatches     atomic.Int64
	stop              context.CancelFunc
	done              chan struct{}
	startErr          error
}

// StartManager runs a manager for one test; it stops (and its store closes) when the test
// ends. Its log lines go to the test log.
func StartManager(t testing.TB, o ManagerOptions) *Manager {
	t.Helper()
	if o.StorePath == "" {
		o.StorePath = filepath.Join(t.TempDir(), "tokens.db")
	}
	m, err := startManager(o, newLogBook(o.LogVerbosity, func(s string) { t.Log(s) }, false))
	if err != nil {
		t.Fatalf("starting the manager: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// RunManager runs a manager shared by a whole test binary (MainOptions.Setup); only errors
// are shown, on stderr. The caller stops it.
func RunManager(env *Env, o ManagerOptions) (*Manager, error) {
	if o.StorePath == "" {
		o.StorePath = filepath.Join(env.Dir, "tokens.db")
	}
	return startManager(o, newLogBook(o.LogVerbosity, stderrLine, true))
}

func startManager(o ManagerOptions, book *logBook) (*Manager, error) {
	env := Current()
	if env == nil {
		return nil, errors.New("testenv: no control plane; call testenv.Main from TestMain")
	}
	m := &Manager{Namespace: o.Namespace, StorePath: o.StorePath, book: book, done: make(chan struct{})}
	ao := app.Options{
		TokenStore: o.StorePath, NoSync: o.NoSync, SkipNameValidation: true,
		TokenStoreBackend: o.TokenStoreBackend, TokenStoreNamespace: o.TokenStoreNamespace, KeyFile: o.KeyFile,
		Logger: book.logger(), Clock: o.Clock, SessionClientName: "mcpproxy-operator-test",
		BrowserLogin: o.BrowserLogin, BrowserLoginPoll: o.BrowserLoginPoll,
		LeaderElection: o.LeaderElection, LeaderElectionNamespace: o.LeaderElectionNamespace,
		LeaderElectionID: o.LeaderElectionID, WatchLabelSelector: o.WatchLabelSelector,
	}
	if o.Namespace != "" {
		ao.Namespaces = []string{o.Namespace}
	}
	if o.Gateway != nil {
		gw := *o.Gateway
		if gw.Addr == "" {
			gw.Addr = "127.0.0.1:0"
		}
		if gw.Logger.GetSink() == nil {
			m.gatewayBook = newLogBook(0, nil, false)
			gw.Logger = m.gatewayBook.logger().WithName("gateway")
		}
		ao.Gateway = &gw
	}
	am, err := app.New(m.countStatusPatches(env.Config), ao)
	if err != nil {
		return nil, err
	}
	m.Manager = am
	if am.Gateway != nil {
		if err := am.Gateway.Listen(); err != nil {
			am.Close()
			return nil, err
		}
		m.URL = "http://" + am.Gateway.Addr()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() {
		defer close(m.done)
		m.startErr = am.Start(ctx)
	}()
	return m, nil
}

// countStatusPatches returns a copy of cfg whose client counts the manager's PATCHes of a
// status subresource: how a test proves that unchanged status is not written.
func (m *Manager) countStatusPatches(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/status") {
				m.statusPatches.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Stop stops the manager and waits (up to 30s) until its store is closed; it returns how
// the manager ended. Safe to call twice.
func (m *Manager) Stop() error {
	m.stop()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		return errors.New("the manager did not stop within 30s")
	}
	if m.startErr != nil {
		return fmt.Errorf("manager: %w", m.startErr)
	}
	return nil
}

// StatusPatches counts the status patches the manager has sent.
func (m *Manager) StatusPatches() int64 { return m.statusPatches.Load() }

// Logs returns every line the manager logged so far (up to LogVerbosity).
func (m *Manager) Logs() []string { return m.book.all() }

// GatewayLogs returns what the gateway logged, when its log was captured.
func (m *Manager) GatewayLogs() string {
	if m.gatewayBook == nil {
		return ""
	}
	return m.gatewayBook.String()
}

// SessionConnected reports whether this manager holds a healthy MCP session for us.
func (m *Manager) SessionConnected(us *mcpv1alpha1.UpstreamServer) bool {
	s := m.Sessions.Get(upstream.SessionKey(us))
	return s != nil && s.Healthy()
}

// ReconcileMark marks "now" for WaitReconciled: the number of reconciles of us this manager
// has started so far.
func (m *Manager) ReconcileMark(us *mcpv1alpha1.UpstreamServer) int {
	started, _, _ := m.book.count(upstream.SessionKey(us))
	return started
}

// WaitReconciled waits until a reconcile of us that started after mark (ReconcileMark) has
// completed. Reconciles of one server never overlap, so that is the completion number
// mark+1. Take the mark, make the change that must cause nothing (a poke, an expiry), then
// wait: the reconciler has looked at the server since, and a test can assert that nothing
// happened without sleeping. Some reconcile after the mark always comes when the change
// enqueues the server.
func (m *Manager) WaitReconciled(t testing.TB, us *mcpv1alpha1.UpstreamServer, mark int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		_, completed, next := m.book.count(upstream.SessionKey(us))
		if completed > mark {
			return
		}
		select {
		case <-next:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for a reconcile of %s that started after the mark (completed %d, mark %d)",
				timeout, upstream.SessionKey(us), completed, mark)
		}
	}
}
