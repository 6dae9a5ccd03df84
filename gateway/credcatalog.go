package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// A PerSubject server's tools on /mcp are each caller's own: the catalog opens a session per
// credential that a caller of /mcp uses (a want, registered when a session's tools are
// applied), with that credential's token, and shows its tools only to the callers that
// credential is selected for while it is Ready. A session lives while it is wanted (every
// resync renews the wants of open /mcp sessions) and while what its tool list depends on is
// unchanged (grantOf: the server's target, the credential's UID and generation, and the
// login its token comes from), at most tuning.MaxCredentialSessions at a time, connected
// within the same parallelism, timeouts and answer bounds as a Shared server's.

// credWant is a credential session some /mcp caller uses; its server is the one the last
// sync read.
type credWant struct {
	cred *mcpv1alpha1.UpstreamCredential
	at   time.Time // last renewed
}

// wantTTL is how long a want outlives its last renewal: two resyncs, so an open /mcp session
// keeps its credentials' sessions, and a minute at least (the sweep of ended sessions).
func (c *catalog) wantTTL() time.Duration {
	return max(2*c.g.opts.ResyncInterval, idleSessionSweep)
}

// credentialSessionsLocked counts the credential sessions open or being opened. c.mu is held.
func (c *catalog) credentialSessionsLocked() int {
	n := 0
	for key := range c.conns {
		if key.cred != "" {
			n++
		}
	}
	for key := range c.busy {
		if key.cred != "" && c.conns[key] == nil {
			n++
		}
	}
	return n
}

// credentialsChanged reports whether credential sessions' tools changed since the aggregated
// sessions were last brought in step, and marks them as being brought in step now.
func (c *catalog) credentialsChanged() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.applied != c.credVersion
	c.applied = c.credVersion
	return changed
}

// grantOf is what credential cred's tool list depends on: the server's UID and target, the
// credential's UID and generation, and the login its stored token comes from (when it was
// obtained, by whom, for which scopes). A refresh keeps the grant, and the list; a new login,
// which may be another person's, or a change of spec replaces the session. "" without a token.
func (c *catalog) grantOf(us *mcpv1alpha1.UpstreamServer, cred *mcpv1alpha1.UpstreamCredential) string {
	rec, err := c.g.up.loadFresh(holder{us: us, cred: cred})
	if err != nil || rec == nil || rec.AccessToken == "" || !boundTo(rec, us.Spec.URL) {
		return ""
	}
	scopes := slices.Clone(rec.Scopes)
	slices.Sort(scopes)
	return strings.Join([]string{string(us.UID), target(us), string(cred.UID), fmt.Sprint(cred.Generation),
		rec.ObtainedAt.UTC().Format(time.RFC3339Nano), rec.ObtainedBy, strings.Join(scopes, " ")}, "\x00")
}

// credentialReady: the controller proved the credential's current token with the MCP server.
func credentialReady(cred *mcpv1alpha1.UpstreamCredential) bool {
	return cred.DeletionTimestamp.IsZero() && !cred.Spec.Suspend &&
		meta.IsStatusConditionTrue(cred.Status.Conditions, mcpv1alpha1.ConditionReady)
}

// dropCredentialConns removes the credential sessions that are no longer wanted, whose server
// is no longer a Ready PerSubject server with the same target, whose credential is gone, not
// Ready or replaced, or whose grant changed; it forgets expired wants. It returns the
// sessions to close.
func (c *catalog) dropCredentialConns(ctx context.Context, now time.Time) []*upstreamConn {
	type check struct {
		key  connKey
		conn *upstreamConn
		us   *mcpv1alpha1.UpstreamServer
	}
	var checks []check
	c.mu.Lock()
	for key, w := range c.wants {
		if now.Sub(w.at) > c.wantTTL() {
			delete(c.wants, key)
		}
	}
	var drop []*upstreamConn
	for key, conn := range c.conns {
		if key.cred == "" {
			continue
		}
		us, ok := c.perSubject[key.nn]
		if _, wanted := c.wants[key]; !ok || !wanted || conn.dead() || conn.target != target(us) {
			drop = append(drop, conn)
			delete(c.conns, key)
			continue
		}
		checks = append(checks, check{key, conn, us})
	}
	c.mu.Unlock()
	// The credential and its token are read outside the lock: a cache read and a store read
	// per open credential session.
	var stale []check
	for _, ch := range checks {
		cred, err := c.g.credential(ctx, types.NamespacedName{Namespace: ch.key.nn.Namespace, Name: ch.key.cred})
		if err != nil || cred.UID != ch.key.uid || !credentialReady(cred) || c.grantOf(ch.us, cred) != ch.conn.grant {
			stale = append(stale, ch)
		}
	}
	c.mu.Lock()
	for _, ch := range stale {
		if c.conns[ch.key] == ch.conn {
			drop = append(drop, ch.conn)
			delete(c.conns, ch.key)
		}
	}
	if len(drop) > 0 {
		c.credVersion++
	}
	c.mu.Unlock()
	return drop
}

// credMemo lists each PerSubject server's credentials once per pass over the /mcp sessions.
type credMemo struct {
	g *Gateway
	m map[types.NamespacedName][]mcpv1alpha1.UpstreamCredential
}

func newCredMemo(g *Gateway) *credMemo {
	return &credMemo{g: g, m: map[types.NamespacedName][]mcpv1alpha1.UpstreamCredential{}}
}

func (m *credMemo) credentials(ctx context.Context, us *mcpv1alpha1.UpstreamServer) ([]mcpv1alpha1.UpstreamCredential, error) {
	nn := upstream.Name(us)
	if creds, ok := m.m[nn]; ok {
		return creds, nil
	}
	creds, err := m.g.credentialsOf(ctx, us)
	if err != nil {
		return nil, err
	}
	m.m[nn] = creds
	return creds, nil
}

// credentialTools are the tools of PerSubject server us that session s shows: those of the
// session of the credential selected for s's caller (by identity and the CredentialHeader of
// its initialize request), while that credential is Ready. It renews the want of that
// session, and asks for a sync when it is new. Nothing is shown when the header names a
// credential that is not the caller's (calls are refused then, with the reason).
func (c *catalog) credentialTools(ctx context.Context, s *aggSession, us *mcpv1alpha1.UpstreamServer, memo *credMemo) []*exposedTool {
	if s.id.Loopback {
		return nil
	}
	creds, err := memo.credentials(ctx, us)
	if err != nil {
		c.g.log.Error(err, "Failed to list UpstreamCredentials for the tool catalog", "server", upstream.Name(us).String())
		return nil
	}
	named, ambiguous := namedFor(s.entries, us, creds, false)
	sel := selectCredential(s.id, creds, named)
	if ambiguous || sel.match == nil || !credentialReady(sel.match.cred) {
		return nil
	}
	cred := sel.match.cred
	key := connKey{nn: upstream.Name(us), cred: cred.Name, uid: cred.UID}
	c.mu.Lock()
	fresh := c.wantLocked(key, cred)
	var tools []*exposedTool
	if conn := c.conns[key]; conn != nil && !conn.dead() {
		tools = conn.exposed
	}
	c.mu.Unlock()
	if fresh {
		c.poke() // plan its connect
	}
	return tools
}

// wantLocked registers or renews the want of credential session key; it reports whether the
// want is new. c.mu is held.
func (c *catalog) wantLocked(key connKey, cred *mcpv1alpha1.UpstreamCredential) bool {
	w, ok := c.wants[key]
	if !ok {
		w = &credWant{}
		c.wants[key] = w
	}
	w.cred, w.at = cred.DeepCopy(), time.Now()
	return !ok
}

// watchCredentials syncs the catalog on the UpstreamCredential changes that matter to it.
func (c *catalog) watchCredentials(ctx context.Context) {
	inf := c.g.opts.Informers
	if inf == nil {
		return
	}
	i, err := inf.GetInformer(ctx, &mcpv1alpha1.UpstreamCredential{})
	if err == nil {
		_, err = i.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { c.poke() },
			UpdateFunc: func(o, n any) {
				if credentialChanged(o, n) {
					c.poke()
				}
			},
			DeleteFunc: func(any) { c.poke() },
		})
	}
	if err != nil {
		c.g.log.Error(err, "Failed to watch UpstreamCredentials; per-subject tools sync periodically only")
	}
}

// credentialChanged reports whether an update matters to the catalog: readiness, spec, the
// person whose login it holds, deletion. A routine refresh patches status too, and must not
// cost a sync.
func credentialChanged(o, n any) bool {
	a, ok1 := o.(*mcpv1alpha1.UpstreamCredential)
	b, ok2 := n.(*mcpv1alpha1.UpstreamCredential)
	if !ok1 || !ok2 {
		return true
	}
	return credentialReady(a) != credentialReady(b) || a.Generation != b.Generation ||
		obtainedBy(a) != obtainedBy(b) || !b.DeletionTimestamp.IsZero()
}

func obtainedBy(c *mcpv1alpha1.UpstreamCredential) string {
	if c.Status.Token == nil {
		return ""
	}
	return c.Status.Token.ObtainedBy
}

// renamed is t under another exposed name (a collision within one /mcp session).
func (t *exposedTool) renamed(name string) *exposedTool {
	orig := *t.tool
	orig.Name = t.name
	return exposeTool(t.server, &orig, name)
}
