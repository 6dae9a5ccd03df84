// Package app is the one wiring of the manager: scheme, manager and cache scope, token store,
// session pool, reconciler, in-process signals, optional browser login, gateway and health
// checks. cmd/manager calls it with its flags, and every test suite calls it (through
// internal/testenv) with test options, so the binary and the tests cannot drift apart: each
// difference between them is a field of Options.
//
// Imports go one way: internal/app imports controllers and gateway; neither imports it.
package app

import (
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// Options are everything that may differ between the manager binary and a test. The zero
// value of each field is what a test wants unless the field says otherwise; cmd/manager sets
// the production values from its flags.
type Options struct {
	// TokenStoreBackend is StoreBackendBolt (the default when empty) or StoreBackendSecrets.
	TokenStoreBackend string
	// TokenStore is the bbolt file (created 0600, its directory 0700). Required for bolt.
	TokenStore string
	// TokenStoreNamespace holds the token Secrets: the manager's own namespace. Required for
	// secrets.
	TokenStoreNamespace string
	// KeyFile is the AES-256 key file; for bolt, empty means TokenStore+".key", generated if
	// missing; secrets requires it (every replica must mount the same one).
	KeyFile string
	// StoreOpenTimeout bounds the wait for the store's file lock (tokenstore's default when 0).
	StoreOpenTimeout time.Duration
	// NoSync skips fsync on store commits. Tests only: an acknowledged save can be lost.
	NoSync bool

	// Namespaces restricts the manager's cache (and so the servers it reconciles) to these
	// namespaces; empty means the whole cluster. Tests give each manager its own namespace.
	Namespaces []string
	// MaxConcurrentReconciles is how many servers reconcile in parallel (the reconciler's
	// default when 0).
	MaxConcurrentReconciles int
	// SkipNameValidation lets several managers in one process register the same controller
	// name: a test process starts one manager per test.
	SkipNameValidation bool

	// MetricsAddr and ProbeAddr are the metrics and /healthz,/readyz listen addresses; empty
	// or "0" disables them.
	MetricsAddr, ProbeAddr string
	// PprofAddr serves net/http/pprof (CPU, heap, goroutine and block profiles); empty or "0"
	// disables it. For profiling the manager under load (make bench); keep it off in a cluster.
	PprofAddr string
	// MetricsSecure serves metrics over HTTPS, each scrape authenticated (TokenReview) and
	// authorized (SubjectAccessReview for GET /metrics), as kubebuilder scaffolds it. The binary
	// keeps plain HTTP for local runs; the chart turns this on.
	MetricsSecure bool
	// LeaderElection, with LeaderElectionNamespace (default: the pod's), lets only one
	// replica open the token store and reconcile.
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaderElectionID names the lease; empty means the default. Each shard needs its own.
	LeaderElectionID string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election (controller-runtime's
	// 15s, 10s and 2s when zero): how long a dead leader's lease holds, so how long refreshes
	// wait after a leader dies.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// WatchLabelSelector, when not empty, is this manager's shard: a label selector over
	// UpstreamServers (see controllers.ShardLabel). Credentials follow their server.
	WatchLabelSelector string

	// Egress is the policy every outbound connection is checked against when dialled
	// (discovery, token, registration, revocation, MCP sessions, gateway, catalog); nil means
	// netguard.Default (link-local and cloud metadata denied, loopback allowed).
	Egress *netguard.Policy
	// GracefulShutdownTimeout is how long the manager waits for runnables (a refresh in
	// flight, its save) after SIGTERM; zero means controller-runtime's default (30s). The
	// binary sets DefaultGracefulShutdownTimeout.
	GracefulShutdownTimeout time.Duration
	// MCPLimits bound what an MCP server's answers may hold, for the reconciler's sessions
	// and the gateway's catalog (zero fields: mcpconn's defaults).
	MCPLimits mcpconn.Limits

	// Logger is the manager's logger (controllers, token store, browser login); the zero
	// value means controller-runtime's global logger (ctrl.Log), as the binary sets it.
	Logger logr.Logger
	// Clock is the reconciler's clock; nil means the real one.
	Clock clock.PassiveClock
	// OAuth talks to authorization servers; nil means controllers.HTTPOAuthClient{}.
	OAuth controllers.OAuthClient
	// SessionClientName is the MCP client name the session pool announces; empty means
	// "mcpproxy-operator".
	SessionClientName string

	// BrowserLogin opens a browser on this machine when a server needs a login (--browser-login).
	BrowserLogin bool
	// BrowserLoginPoll is how often a running browser flow checks that its server still needs
	// it; zero means 2s.
	BrowserLoginPoll time.Duration

	// Gateway, when non-nil, serves the MCP gateway.
	Gateway *GatewayOptions
}

// GatewayOptions configure the gateway. Client, store, informers and the refresher come from
// the wiring; everything else of gateway.Options can be changed by Tweak.
type GatewayOptions struct {
	// Addr is the listen address, e.g. ":8090" or "127.0.0.1:0".
	Addr string
	// AllowLoopbackUnauthenticated lets loopback callers in without a token (local runs only).
	AllowLoopbackUnauthenticated bool
	// Logger is the gateway's logger; the zero value means Options.Logger named "gateway".
	Logger logr.Logger
	// Tweak, when set, changes the assembled gateway.Options last (tests shorten caches).
	Tweak func(*gateway.Options)
}

// DefaultGracefulShutdownTimeout outlasts a refresh in flight (lifecycle.RefreshTimeout,
// 20s) and its save, with margin; the pod's terminationGracePeriodSeconds (chart and
// config/manager: 45) is longer still, so the kubelet does not kill the manager first.
const DefaultGracefulShutdownTimeout = 35 * time.Second

// The defaults that are not a zero value.
const (
	defaultSessionClientName = "mcpproxy-operator"
	defaultBrowserLoginPoll  = 2 * time.Second
	// eventSource names the manager in the events it records.
	eventSource = "mcpproxy-operator"
	// leaderElectionID is the lease every replica competes for.
	leaderElectionID = "mcpproxy-operator.mcp.mcpproxy.dev"
)

// orDisabled maps the empty address to controller-runtime's "0" (off), so a test that sets
// nothing listens on nothing.
func orDisabled(addr string) string {
	if addr == "" {
		return "0"
	}
	return addr
}
