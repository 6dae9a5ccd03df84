package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// catalog holds the gateway's own MCP session to every Ready UpstreamServer and the tools
// they list, and keeps the aggregated endpoint's sessions in step with it.
type catalog struct {
	g    *Gateway
	wake chan struct{}

	// work bounds the upstream connects and relists in flight; limits bound what each reads.
	work   chan struct{}
	limits mcpconn.Limits
	tuning catalogTuning

	mu       sync.Mutex
	conns    map[types.NamespacedName]*upstreamConn
	tools    map[string]*exposedTool // by exposed name
	sessions map[*aggSession]struct{}
	busy     map[types.NamespacedName]bool      // a connect or relist of the server is in flight
	retryAt  map[types.NamespacedName]time.Time // a server that failed is not tried again before
}

// upstreamConn is one session of the gateway to an upstream.
type upstreamConn struct {
	nn     types.NamespacedName
	target string
	sess   *mcpconn.Session
	tools  []*mcp.Tool // guarded by catalog.mu
	stale  atomic.Bool // the upstream said its tools changed
}

// dead reports whether the session dropped (or was closed).
func (u *upstreamConn) dead() bool { return !u.sess.Healthy() }

// close ends the session.
func (u *upstreamConn) close() { _ = u.sess.Close() }

// exposedTool is an upstream tool as the aggregated endpoint shows it.
type exposedTool struct {
	server types.NamespacedName
	name   string // the upstream's name
	tool   *mcp.Tool
	digest string
}

func newCatalog(g *Gateway) *catalog {
	t := defaultCatalogTuning
	t.Limits = g.opts.UpstreamLimits
	return &catalog{g: g, wake: make(chan struct{}, 1), conns: map[types.NamespacedName]*upstreamConn{},
		tools: map[string]*exposedTool{}, sessions: map[*aggSession]struct{}{},
		work: make(chan struct{}, t.Parallel), limits: t.Limits.WithDefaults(), tuning: t,
		busy: map[types.NamespacedName]bool{}, retryAt: map[types.NamespacedName]time.Time{}}
}

// poke asks the run loop for a sync without blocking.
func (c *catalog) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run syncs on every UpstreamServer change, on upstream tool list changes, and periodically.
func (c *catalog) run(ctx context.Context) {
	if inf := c.g.opts.Informers; inf != nil {
		if i, err := inf.GetInformer(ctx, &mcpv1alpha1.UpstreamServer{}); err != nil {
			c.g.log.Error(err, "Failed to watch UpstreamServers; the tool catalog syncs periodically only")
		} else if _, err := i.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { c.poke() },
			UpdateFunc: func(o, n any) {
				if catalogChanged(o, n) {
					c.poke()
				}
			},
			DeleteFunc: func(any) { c.poke() },
		}); err != nil {
			c.g.log.Error(err, "Failed to watch UpstreamServers; the tool catalog syncs periodically only")
		}
	}
	tick := time.NewTicker(c.g.opts.ResyncInterval)
	defer tick.Stop()
	c.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			c.sync(ctx)
		case <-tick.C:
			c.sync(ctx)
			c.applyAll(ctx, true)
		}
	}
}

// catalogChanged reports whether an update matters to the tool catalog: readiness, target or
// tool count. A routine refresh patches status too, and must not cost a full sync (O(servers)).
func catalogChanged(o, n any) bool {
	a, ok1 := o.(*mcpv1alpha1.UpstreamServer)
	b, ok2 := n.(*mcpv1alpha1.UpstreamServer)
	if !ok1 || !ok2 {
		return true
	}
	return isReady(a) != isReady(b) || target(a) != target(b) || toolCount(a) != toolCount(b) ||
		a.Generation != b.Generation || !b.DeletionTimestamp.IsZero()
}

func toolCount(us *mcpv1alpha1.UpstreamServer) int32 {
	if us.Status.Server == nil {
		return -1
	}
	return us.Status.Server.Tools
}

func target(us *mcpv1alpha1.UpstreamServer) string {
	return string(us.Spec.Transport) + " " + us.Spec.URL
}

func isReady(us *mcpv1alpha1.UpstreamServer) bool {
	return !us.Spec.Suspend && upstream.IsTrue(us, mcpv1alpha1.ConditionReady)
}

// sync drops the sessions of servers no longer Ready (or whose target changed), starts the
// connects of new Ready servers and the relists of changed tool lists in the background
// (catalogwork.go), and tells the aggregated sessions when the set of tools changed. It never
// waits on an upstream: a slow one stays out of the catalog until it answers, and the others'
// tools are served meanwhile.
func (c *catalog) sync(ctx context.Context) {
	var list mcpv1alpha1.UpstreamServerList
	if err := c.g.opts.Client.List(ctx, &list); err != nil {
		c.g.log.Error(err, "Failed to list UpstreamServers for the tool catalog")
		return
	}
	ready := map[types.NamespacedName]*mcpv1alpha1.UpstreamServer{}
	for i := range list.Items {
		if us := &list.Items[i]; isReady(us) {
			ready[upstream.Name(us)] = us
		}
	}
	c.mu.Lock()
	var drop []*upstreamConn
	for nn, conn := range c.conns {
		if us, ok := ready[nn]; !ok || conn.dead() || conn.target != target(us) {
			drop = append(drop, conn)
			delete(c.conns, nn)
		}
	}
	jobs := c.planLocked(ready, time.Now())
	c.mu.Unlock()
	for _, conn := range drop {
		conn.close()
	}
	for _, j := range jobs {
		c.start(ctx, j)
	}
	if c.rebuild() {
		c.applyAll(ctx, false)
	}
}

// connect opens the gateway's session to us through mcpconn (credentials added per request by
// the upstream transport, so a 401 is recovered from there) and lists its tools, within the
// per-server timeout and the catalog's bounds.
func (c *catalog) connect(ctx context.Context, us *mcpv1alpha1.UpstreamServer) (*upstreamConn, error) {
	conn := &upstreamConn{nn: upstream.Name(us), target: target(us)}
	ctx, cancel := context.WithTimeout(ctx, c.tuning.ServerTimeout)
	defer cancel()
	sess, err := mcpconn.Dial(ctx, mcpconn.Target{URL: us.Spec.URL, Transport: string(us.Spec.Transport)}, mcpconn.Options{
		ClientName:     "mcpproxy-gateway",
		Base:           boundTransport{u: c.g.up, nn: conn.nn, target: conn.target},
		Notify:         c.poke, // the session dropped: the next sync replaces it
		OnToolsChanged: func() { conn.stale.Store(true); c.poke() },
		Limits:         c.limits,
	})
	if err != nil {
		return nil, err
	}
	conn.sess, conn.tools = sess, sess.Tools()
	return conn, nil
}

// list reads the upstream's tools into conn, within the per-server timeout.
func (c *catalog) list(ctx context.Context, conn *upstreamConn) error {
	ctx, cancel := context.WithTimeout(ctx, c.tuning.ServerTimeout)
	defer cancel()
	tools, err := conn.sess.ListTools(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	conn.tools = tools
	c.mu.Unlock()
	return nil
}

// rebuild recomputes the exposed tools from the connections; it reports whether they changed.
func (c *catalog) rebuild() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]types.NamespacedName, 0, len(c.conns))
	for nn := range c.conns {
		names = append(names, nn)
	}
	sort.Slice(names, func(i, j int) bool { return names[i].String() < names[j].String() })
	next := map[string]*exposedTool{}
	for _, nn := range names {
		for _, t := range c.conns[nn].tools {
			name := ToolName(nn.Namespace, nn.Name, t.Name)
			if _, taken := next[name]; taken {
				name = hashedToolName(nn.Namespace, nn.Name, t.Name)
			}
			exposed := *t
			exposed.Name = name
			if exposed.InputSchema == nil {
				exposed.InputSchema = map[string]any{"type": "object"}
			}
			b, _ := json.Marshal(&exposed)
			sum := sha256.Sum256(b)
			next[name] = &exposedTool{server: nn, name: t.Name, tool: &exposed, digest: hex.EncodeToString(sum[:])}
		}
	}
	changed := len(next) != len(c.tools)
	for name, t := range next {
		if old, ok := c.tools[name]; !ok || old.digest != t.digest {
			changed = true
		}
	}
	c.tools = next
	return changed
}

// lookup returns the exposed tool called name, or nil.
func (c *catalog) lookup(name string) *exposedTool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tools[name]
}

// conn returns the live session to nn, or nil.
func (c *catalog) conn(nn types.NamespacedName) *upstreamConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn := c.conns[nn]; conn != nil && !conn.dead() {
		return conn
	}
	return nil
}

// closeAll closes every upstream session.
func (c *catalog) closeAll() {
	c.mu.Lock()
	conns := c.conns
	c.conns = map[types.NamespacedName]*upstreamConn{}
	c.mu.Unlock()
	for _, conn := range conns {
		conn.close()
	}
}
