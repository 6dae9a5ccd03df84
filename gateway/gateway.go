package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// TokenReader reads the current token of a server and waits for a newer revision to be
// committed (internal/tokenstore.Store), so a request whose token the upstream rejected waits
// for the reconciler's refresh instead of polling.
type TokenReader interface {
	Load(k tokenstore.Key) (*tokenstore.Record, error)
	WaitNewer(ctx context.Context, k tokenstore.Key, rev uint64) (*tokenstore.Record, error)
}

// Options configure a Gateway. Client, APIReader and Store are required.
type Options struct {
	// Addr is the listen address, for example ":8090".
	Addr string
	// Client reads UpstreamServers (the manager's cached client) and creates TokenReviews and
	// SubjectAccessReviews.
	Client client.Client
	// APIReader reads the Secrets named by spec.headers, uncached.
	APIReader client.Reader
	// Store holds the current tokens, written only by the reconciler.
	Store TokenReader
	// Informers, when set, wakes the aggregated endpoint's catalog on every UpstreamServer
	// change; without it the catalog is only resynced periodically.
	Informers cache.Informers
	// Refresher takes the gateway's refresh requests in process (controllers.Signals); required: a look
	// at a server whose token expired, and the refresh of a revision the upstream rejected.
	Refresher upstream.Refresher
	// SharedStore says every replica reads the same token store (the Secrets backend): the
	// gateway then serves on every replica, not only on the leader, and Refresher must carry a
	// non-leader's requests to the leader.
	SharedStore bool
	// Shard, when set, is the manager's shard (--watch-label-selector): the gateway serves the
	// UpstreamServers it matches and answers 404 for the others, which another shard's gateway
	// serves. The Informers hold only the shard's servers already; this also covers the API
	// server reads that make up for a lagging cache.
	Shard labels.Selector
	// AllowLoopbackUnauthenticated lets callers from a loopback address in without a token,
	// allowed to use every server. For local runs only.
	AllowLoopbackUnauthenticated bool
	// Audiences are the audiences a caller's token must carry; empty means the API server's.
	Audiences []string
	// RefreshWait bounds how long a request rejected with 401 waits for a new token (default 10s).
	RefreshWait time.Duration
	// AuthCacheTTL and AuthCacheSize bound the cache of review answers (default 30s, 10000).
	// A SubjectAccessReview's answer is used for at most 10s whatever the TTL, a TokenReview's
	// never past the token's own expiry.
	AuthCacheTTL  time.Duration
	AuthCacheSize int
	// RejectedTokenCacheSize bounds the cache of tokens the API server rejected, kept apart
	// from the cache of good answers so junk tokens cannot evict them (default 1024).
	RejectedTokenCacheSize int
	// ReviewRatePerClient and ReviewRateTotal limit the TokenReviews of tokens no cache knows,
	// per client address and in total; a caller over the limit gets 429 with Retry-After
	// (defaults 5/s with a burst of 20, and 50/s with a burst of 100).
	ReviewRatePerClient RateLimit
	ReviewRateTotal     RateLimit
	// MaxSessionsPerIdentity caps the open sessions of one caller on the aggregated /mcp; one
	// more gets 429 until a session ends (DELETE, or idle for 30 minutes). Default 16.
	MaxSessionsPerIdentity int
	// MaxRetryBody is the largest request body kept for a retry after a 401 (default 1 MiB).
	MaxRetryBody int64
	// ResyncInterval is how often the aggregated catalog and its sessions' permissions are
	// re-evaluated without a change (default 30s).
	ResyncInterval time.Duration
	// UpstreamLimits bound what upstream answers may hold in the catalog (zero fields:
	// mcpconn's defaults).
	UpstreamLimits mcpconn.Limits
	// Logger receives access logs and errors; never a token.
	Logger logr.Logger
}

// Gateway is the MCP gateway. It is a manager Runnable (Start) and an http.Handler.
type Gateway struct {
	opts   Options
	log    logr.Logger
	auth   *authorizer
	up     *upstreams
	grants *endpointGrants
	slots  *sessionSlots
	// stopping is done once Start's context is: from then on the gateway neither asks for a
	// refresh nor waits for a refreshed token (refresh.go). It has no use for one: the callers'
	// requests end with it (their context is Start's) and the catalog's sessions are being
	// closed. Nor may one come: the controllers of this replica stop with the gateway or just
	// after it, and a request to the leader (a patch, on the Secrets store) would outlive it.
	stopping context.Context
	stop     context.CancelFunc
	// servers and credentials are the UpstreamServers and UpstreamCredentials as the
	// manager's informers deliver them (index.go).
	servers     *objectIndex[*mcpv1alpha1.UpstreamServer]
	credentials *objectIndex[*mcpv1alpha1.UpstreamCredential]
	// versions answers the SDK's protocol version lookups on /mcp requests that open no session.
	versions *mcp.Server
	catalog  *catalog
	handler  http.Handler
	listener net.Listener
}

// New validates the options and builds a Gateway; Start serves it.
func New(o Options) (*Gateway, error) {
	if o.Client == nil || o.APIReader == nil || o.Store == nil || o.Refresher == nil {
		return nil, errors.New("gateway: Client, APIReader, Store and Refresher are required")
	}
	if o.RefreshWait <= 0 {
		o.RefreshWait = 10 * time.Second
	}
	if o.AuthCacheTTL <= 0 {
		o.AuthCacheTTL = 30 * time.Second
	}
	if o.AuthCacheSize <= 0 {
		o.AuthCacheSize = 10000
	}
	if o.RejectedTokenCacheSize <= 0 {
		o.RejectedTokenCacheSize = 1024
	}
	if o.MaxSessionsPerIdentity <= 0 {
		o.MaxSessionsPerIdentity = 16
	}
	if o.MaxRetryBody <= 0 {
		o.MaxRetryBody = 1 << 20
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 30 * time.Second
	}
	g := &Gateway{opts: o, log: o.Logger, servers: newObjectIndex[*mcpv1alpha1.UpstreamServer](),
		credentials: newObjectIndex[*mcpv1alpha1.UpstreamCredential]()}
	g.stopping, g.stop = context.WithCancel(context.Background())
	g.auth = newAuthorizer(o.Client, o)
	g.up = newUpstreams(g)
	g.grants = newEndpointGrants(o.AuthCacheSize)
	g.slots = newSessionSlots(o.MaxSessionsPerIdentity)
	g.versions = newAggServer()
	g.catalog = newCatalog(g)
	g.handler = g.routes()
	return g, nil
}

// Listen binds the listen address now (Start binds it otherwise), so callers can learn the
// port of ":0" from Addr before Start.
func (g *Gateway) Listen() error {
	if g.listener != nil {
		return nil
	}
	l, err := net.Listen("tcp", g.opts.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listening on %s: %w", g.opts.Addr, err)
	}
	g.listener = l
	return nil
}

// Addr is the bound address once Listen or Start ran, else the configured one.
func (g *Gateway) Addr() string {
	if g.listener != nil {
		return g.listener.Addr().String()
	}
	return g.opts.Addr
}

// NeedLeaderElection is true unless Options.SharedStore: a bbolt token store is held by the
// leader only. On a shared store every replica serves, and asks the leader for refreshes.
func (g *Gateway) NeedLeaderElection() bool { return !g.opts.SharedStore }

// Start serves until ctx is done, then shuts down, giving open streams a few seconds.
func (g *Gateway) Start(ctx context.Context) error {
	if err := g.Listen(); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: event streams are long-lived.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := g.servers.watch(ctx, g.opts.Informers, &mcpv1alpha1.UpstreamServer{}); err != nil {
			g.log.Error(err, "Failed to watch UpstreamServers; requests read them from the cache")
		}
		if err := g.credentials.watch(ctx, g.opts.Informers, &mcpv1alpha1.UpstreamCredential{}); err != nil {
			g.log.Error(err, "Failed to watch UpstreamCredentials; requests read them from the cache")
		}
	}()
	catalogDone := make(chan struct{})
	go func() { defer close(catalogDone); g.catalog.run(ctx) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(g.listener) }()
	g.log.Info("Serving the MCP gateway", "address", g.Addr(),
		"allowLoopbackUnauthenticated", g.opts.AllowLoopbackUnauthenticated)
	select {
	case err := <-errc:
		g.stop()
		<-catalogDone
		return fmt.Errorf("gateway: serving: %w", err)
	case <-ctx.Done():
	}
	g.stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-catalogDone
	g.catalog.closeAll()
	return nil
}
