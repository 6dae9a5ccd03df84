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
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// catalog holds the gateway's own MCP session to every Ready Shared UpstreamServer and the
// tools they list, and one to each credential of a PerSubject server that a caller of /mcp
// uses (credcatalog.go), and keeps the aggregated endpoint's sessions in step with them.
type catalog struct {
	g    *Gateway
	wake chan struct{}

	// work bounds the upstream connects and relists in flight; limits bound what each reads.
	work   chan struct{}
	limits mcpconn.Limits
	tuning catalogTuning

	mu       sync.Mutex
	conns    map[connKey]*upstreamConn
	tools    map[string]*exposedTool // the Shared servers' tools, by exposed name
	sessions map[string]*aggSession  // the /mcp session servers, by groupKey
	busy     map[connKey]bool        // a connect or relist of the session is in flight
	retryAt  map[connKey]time.Time   // a session that failed is not tried again before
	// perSubject are the Ready PerSubject servers of the last sync; wants the credential
	// sessions callers of /mcp use (credcatalog.go).
	perSubject map[types.NamespacedName]*mcpv1alpha1.UpstreamServer
	wants      map[connKey]*credWant
	// credVersion counts changes of the credential sessions' tools; applied is the version
	// the aggregated sessions were last brought in step with.
	credVersion, applied uint64
}

// connKey names one session of the gateway to an upstream: a Shared server's (cred empty),
// or one credential's of a PerSubject server, by name and UID (a credential created again
// under the same name is another login).
type connKey struct {
	nn   types.NamespacedName
	cred string
	uid  types.UID
}

// upstreamConn is one session of the gateway to an upstream.
type upstreamConn struct {
	key    connKey
	target string
	// grant is what the tools of a credential's session depend on (grantOf); a change
	// replaces the session.
	grant string
	sess  *mcpconn.Session
	tools []*mcp.Tool // guarded by catalog.mu
	// shown memoizes a Shared server's tools as /mcp shows them, per tool of this list and
	// the name it got; guarded by catalog.mu, emptied with a new tools list (setTools).
	shown map[*mcp.Tool]*exposedTool
	// exposed are a credential session's tools as /mcp shows them; guarded by catalog.mu.
	exposed []*exposedTool
	stale   atomic.Bool // the upstream said its tools changed
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
	return &catalog{g: g, wake: make(chan struct{}, 1), conns: map[connKey]*upstreamConn{},
		tools: map[string]*exposedTool{}, sessions: map[string]*aggSession{},
		work: make(chan struct{}, t.Parallel), limits: t.Limits.WithDefaults(), tuning: t,
		busy: map[connKey]bool{}, retryAt: map[connKey]time.Time{},
		perSubject: map[types.NamespacedName]*mcpv1alpha1.UpstreamServer{}, wants: map[connKey]*credWant{}}
}

// poke asks the run loop for a sync without blocking.
func (c *catalog) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run syncs on every UpstreamServer change (and UpstreamCredential change, credcatalog.go),
// on upstream tool list changes, and periodically.
func (c *catalog) run(ctx context.Context) {
	c.watchCredentials(ctx)
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

// sharedReady: a server whose own session lists the tools (a PerSubject server has none:
// its credentials' sessions do).
func sharedReady(us *mcpv1alpha1.UpstreamServer) bool { return isReady(us) && !perSubject(us) }

// sync drops the sessions of servers no longer Ready (or whose target changed) and of
// credentials no longer used or usable, starts the connects of new Ready servers and wanted
// credentials and the relists of changed tool lists in the background (catalogwork.go), and
// tells the aggregated sessions when the set of tools changed. It never waits on an
// upstream: a slow one stays out of the catalog until it answers, and the others' tools are
// served meanwhile.
func (c *catalog) sync(ctx context.Context) {
	var list mcpv1alpha1.UpstreamServerList
	// Read only, so the cache's own objects serve: a copy of every server per sync was most
	// of the catalog's garbage while servers came and went.
	if err := c.g.opts.Client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		c.g.log.Error(err, "Failed to list UpstreamServers for the tool catalog")
		return
	}
	ready := map[types.NamespacedName]*mcpv1alpha1.UpstreamServer{}
	perSubj := map[types.NamespacedName]*mcpv1alpha1.UpstreamServer{}
	for i := range list.Items {
		switch us := &list.Items[i]; {
		case sharedReady(us):
			ready[upstream.Name(us)] = us
		case perSubject(us) && perSubjectReadiness(us) == nil:
			perSubj[upstream.Name(us)] = us
		}
	}
	now := time.Now()
	c.mu.Lock()
	c.perSubject = perSubj
	var drop []*upstreamConn
	for key, conn := range c.conns {
		if key.cred != "" {
			continue // dropCredentialConns
		}
		if us, ok := ready[key.nn]; !ok || conn.dead() || conn.target != target(us) {
			drop = append(drop, conn)
			delete(c.conns, key)
		}
	}
	c.mu.Unlock()
	drop = append(drop, c.dropCredentialConns(ctx, now)...)
	c.mu.Lock()
	jobs := c.planLocked(ready, now)
	c.mu.Unlock()
	for _, conn := range drop {
		conn.close()
	}
	for _, j := range jobs {
		c.start(ctx, j)
	}
	if changed := c.rebuild(); changed || c.credentialsChanged() {
		c.applyAll(ctx, false)
	}
}

// connect opens the gateway's session to us (with credential cred's token for a PerSubject
// server) through mcpconn (credentials added per request by the upstream transport, so a 401
// is recovered from there) and lists its tools, within the per-server timeout and the
// catalog's bounds.
func (c *catalog) connect(ctx context.Context, us *mcpv1alpha1.UpstreamServer, cred *mcpv1alpha1.UpstreamCredential) (*upstreamConn, error) {
	key := connKey{nn: upstream.Name(us)}
	base := boundTransport{u: c.g.up, nn: key.nn, target: target(us)}
	conn := &upstreamConn{key: key, target: target(us)}
	if cred != nil {
		conn.key.cred, conn.key.uid = cred.Name, cred.UID
		base.cred, base.credUID = cred.Name, cred.UID
		conn.grant = c.grantOf(us, cred)
	}
	ctx, cancel := context.WithTimeout(ctx, c.tuning.ServerTimeout)
	defer cancel()
	sess, err := mcpconn.Dial(ctx, mcpconn.Target{URL: us.Spec.URL, Transport: string(us.Spec.Transport)}, mcpconn.Options{
		ClientName:     "mcpproxy-gateway",
		Base:           base,
		Notify:         c.poke, // the session dropped: the next sync replaces it
		OnToolsChanged: func() { conn.stale.Store(true); c.poke() },
		Limits:         c.limits,
	})
	if err != nil {
		return nil, err
	}
	conn.sess = sess
	conn.setTools(internSchemas(sess.Tools()))
	if cred != nil {
		conn.exposed = exposeTools(key.nn, conn.tools)
	}
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
	internSchemas(tools) // before the lock: it encodes and parses each schema
	c.mu.Lock()
	conn.setTools(tools)
	if conn.key.cred != "" {
		conn.exposed = exposeTools(conn.key.nn, tools)
		c.credVersion++
	}
	c.mu.Unlock()
	return nil
}

// rebuild recomputes the exposed tools from the connections; it reports whether they changed.
func (c *catalog) rebuild() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]connKey, 0, len(c.conns))
	for key := range c.conns {
		if key.cred == "" {
			keys = append(keys, key)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].nn.String() < keys[j].nn.String() })
	next := make(map[string]*exposedTool, len(c.tools))
	for _, key := range keys {
		nn, conn := key.nn, c.conns[key]
		for _, t := range conn.tools {
			name := ToolName(nn.Namespace, nn.Name, t.Name)
			if _, taken := next[name]; taken {
				name = hashedToolName(nn.Namespace, nn.Name, t.Name)
			}
			next[name] = conn.show(t, name)
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

// setTools replaces the session's tool list (catalog.mu held).
func (u *upstreamConn) setTools(tools []*mcp.Tool) {
	u.tools, u.shown = tools, nil
}

// show is tool t of this session's list as /mcp shows it under name (catalog.mu held). Every
// sync rebuilds the catalog from all sessions: exposing (a JSON encoding, a digest and the
// schemas' round trips) once per tool list, not once per sync, keeps adding N servers at N
// syncs from costing N² encodings, which took most of the manager's CPU for half a minute
// after a thousand servers became Ready.
func (u *upstreamConn) show(t *mcp.Tool, name string) *exposedTool {
	if e := u.shown[t]; e != nil && e.tool.Name == name {
		return e
	}
	e := exposeTool(u.key.nn, t, name)
	if u.shown == nil {
		u.shown = make(map[*mcp.Tool]*exposedTool, len(u.tools))
	}
	u.shown[t] = e
	return e
}

// exposeTool is upstream tool t of server nn as /mcp shows it, named name.
func exposeTool(nn types.NamespacedName, t *mcp.Tool, name string) *exposedTool {
	exposed := *t
	exposed.Name = name
	if exposed.InputSchema == nil {
		exposed.InputSchema = map[string]any{"type": "object"}
	}
	b, _ := json.Marshal(&exposed)
	sum := sha256.Sum256(b)
	exposed.InputSchema = schemaOf(exposed.InputSchema, true)
	exposed.OutputSchema = schemaOf(exposed.OutputSchema, false)
	return &exposedTool{server: nn, name: t.Name, tool: &exposed, digest: hex.EncodeToString(sum[:])}
}

// exposeTools names a credential session's tools for /mcp (ToolName; a session that also
// lists another server's tool of the same name gets the hashed form, see apply).
func exposeTools(nn types.NamespacedName, tools []*mcp.Tool) []*exposedTool {
	out := make([]*exposedTool, 0, len(tools))
	for _, t := range tools {
		out = append(out, exposeTool(nn, t, ToolName(nn.Namespace, nn.Name, t.Name)))
	}
	return out
}

// conn returns the live session key, or nil.
func (c *catalog) conn(key connKey) *upstreamConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn := c.conns[key]; conn != nil && !conn.dead() {
		return conn
	}
	return nil
}

// closeAll closes every upstream session.
func (c *catalog) closeAll() {
	c.mu.Lock()
	conns := c.conns
	c.conns = map[connKey]*upstreamConn{}
	c.mu.Unlock()
	mcpconn.CloseEach(func(yield func(*mcpconn.Session) bool) {
		for _, conn := range conns {
			if !yield(conn.sess) {
				return
			}
		}
	})
}
