package gateway

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
)

// catalogTuning bounds the catalog's work on upstreams.
type catalogTuning struct {
	// Parallel is how many connects and relists run at once.
	Parallel int
	// ServerTimeout bounds one server's connect (initialize and tools/list) or relist.
	ServerTimeout time.Duration
	// RetryDelay is how long a server whose connect failed (or timed out) stays out of the
	// catalog before it is tried again.
	RetryDelay time.Duration
	// Limits bound what the catalog's sessions read (tool lists included).
	Limits mcpconn.Limits
	// MaxCredentialSessions bounds the sessions opened with credentials of PerSubject
	// servers (one per credential a caller of /mcp uses); beyond it, a credential's tools
	// wait until another's session is no longer used.
	MaxCredentialSessions int
}

// defaultCatalogTuning is the catalog's tuning; tests of the package shorten it.
var defaultCatalogTuning = catalogTuning{Parallel: 8, ServerTimeout: 15 * time.Second, RetryDelay: 5 * time.Second,
	MaxCredentialSessions: 512}

// catalogJob is one session's connect (conn nil) or relist.
type catalogJob struct {
	key  connKey
	us   *mcpv1alpha1.UpstreamServer
	cred *mcpv1alpha1.UpstreamCredential // a credential's session; nil for a Shared server's
	conn *upstreamConn
}

// holder is whose token the job's session carries.
func (j catalogJob) holder() holder { return holder{us: j.us, cred: j.cred} }

// planLocked picks the work a sync starts: a connect for each Ready Shared server and each
// wanted credential without a session (unless one is in flight or it failed too recently;
// credentials within MaxCredentialSessions), a relist for each session whose tools changed.
// It marks them busy. c.mu is held.
func (c *catalog) planLocked(ready map[types.NamespacedName]*mcpv1alpha1.UpstreamServer, now time.Time) []catalogJob {
	var jobs []catalogJob
	plan := func(j catalogJob) bool {
		if c.busy[j.key] {
			return false
		}
		switch {
		case j.conn == nil && now.Before(c.retryAt[j.key]):
			return false
		case j.conn == nil:
		case j.conn.stale.Swap(false):
		default:
			return false
		}
		c.busy[j.key] = true
		jobs = append(jobs, j)
		return true
	}
	for nn, us := range ready {
		key := connKey{nn: nn}
		plan(catalogJob{key: key, us: us, conn: c.conns[key]})
	}
	room := c.tuning.MaxCredentialSessions - c.credentialSessionsLocked()
	for key, w := range c.wants {
		conn := c.conns[key]
		us := c.perSubject[key.nn] // as this sync read it: a want may be older than a spec change
		if us == nil || conn == nil && room <= 0 {
			continue
		}
		if plan(catalogJob{key: key, us: us, cred: w.cred, conn: conn}) && conn == nil {
			room--
		}
	}
	return jobs
}

// start runs j in the background, at most tuning.Parallel at a time, so one slow server
// holds one slot for at most ServerTimeout and never the catalog.
func (c *catalog) start(ctx context.Context, j catalogJob) {
	go func() {
		select {
		case c.work <- struct{}{}:
		case <-ctx.Done():
			c.finish(ctx, j, nil, ctx.Err())
			return
		}
		defer func() { <-c.work }()
		if j.conn != nil {
			c.finish(ctx, j, j.conn, c.list(ctx, j.conn))
			return
		}
		conn, err := c.connect(ctx, j.us, j.cred)
		c.finish(ctx, j, conn, err)
	}()
}

// finish records a job's result. A new session joins the catalog; a failed connect, or a
// relist that failed (its session is closed), keeps the server out until RetryDelay passed,
// and then asks for a sync.
// A refusal (401, 403, also after initialize) is treated like any unauthorized server: it
// stays out and the controller is asked to look, as it owns the server's authorization.
func (c *catalog) finish(ctx context.Context, j catalogJob, conn *upstreamConn, err error) {
	c.mu.Lock()
	delete(c.busy, j.key)
	var closeConn *upstreamConn
	switch {
	case err != nil:
		c.retryAt[j.key] = time.Now().Add(c.tuning.RetryDelay)
		if j.conn != nil && c.conns[j.key] == j.conn {
			delete(c.conns, j.key)
			closeConn = j.conn
		}
	case j.conn != nil: // relisted
	case ctx.Err() != nil: // the catalog stopped while the connect ran
		closeConn = conn
	case c.conns[j.key] != nil && !c.conns[j.key].dead(): // a tool call reconnected meanwhile
		closeConn = conn
	default:
		c.conns[j.key] = conn
		delete(c.retryAt, j.key)
	}
	if j.key.cred != "" && (closeConn != nil || err == nil) {
		c.credVersion++
	}
	c.mu.Unlock()
	if closeConn != nil {
		closeConn.close()
	}
	if err != nil {
		c.failed(j, err)
		if ctx.Err() == nil {
			// Try again once the delay is over: nothing else may ask for a sync before the
			// periodic one (a credential logged in again meanwhile found it still held back).
			time.AfterFunc(c.tuning.RetryDelay, c.poke)
		}
	}
	if err == nil || closeConn != nil {
		c.poke() // the catalog changed: the next sync rebuilds it
	}
}

// failed logs why a session is out of the catalog, naming a crossed bound, and asks the
// controller to look at a token the upstream refused (the server's, or the credential's).
func (c *catalog) failed(j catalogJob, err error) {
	var le *mcpconn.LimitError
	var ce *mcpconn.ChallengeError
	server, cred := j.key.nn.String(), j.key.cred
	switch {
	case errors.As(err, &le):
		c.g.log.Info("An upstream's answer crossed a bound; it is left out of the tool catalog",
			"server", server, "credential", cred, "bound", le.Limit, "max", le.Max)
	case errors.As(err, &ce) || errors.Is(err, mcpconn.ErrUnauthorized) || errors.Is(err, mcpconn.ErrForbidden):
		c.g.log.Info("An upstream refused the gateway's credentials; it is left out of the tool catalog",
			"server", server, "credential", cred, "error", err.Error())
		c.g.up.look(j.holder())
	default:
		c.g.log.Info("Failed to open the gateway's session to an upstream or list its tools",
			"server", server, "credential", cred, "error", err.Error())
	}
}
