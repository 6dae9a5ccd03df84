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
}

// defaultCatalogTuning is the catalog's tuning; tests of the package shorten it.
var defaultCatalogTuning = catalogTuning{Parallel: 8, ServerTimeout: 15 * time.Second, RetryDelay: 5 * time.Second}

// catalogJob is one server's connect (conn nil) or relist.
type catalogJob struct {
	nn   types.NamespacedName
	us   *mcpv1alpha1.UpstreamServer
	conn *upstreamConn
}

// planLocked picks the work a sync starts: a connect for each Ready server without a session
// (unless one is in flight or it failed too recently), a relist for each session whose tools
// changed. It marks them busy. c.mu is held.
func (c *catalog) planLocked(ready map[types.NamespacedName]*mcpv1alpha1.UpstreamServer, now time.Time) []catalogJob {
	var jobs []catalogJob
	for nn, us := range ready {
		if c.busy[nn] {
			continue
		}
		conn := c.conns[nn]
		switch {
		case conn == nil && now.Before(c.retryAt[nn]):
			continue
		case conn == nil:
		case conn.stale.Swap(false):
		default:
			continue
		}
		c.busy[nn] = true
		jobs = append(jobs, catalogJob{nn: nn, us: us, conn: conn})
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
		conn, err := c.connect(ctx, j.us)
		c.finish(ctx, j, conn, err)
	}()
}

// finish records a job's result. A new session joins the catalog; a failed connect, or a
// relist that failed (its session is closed), keeps the server out until RetryDelay passed.
// A refusal (401, 403, also after initialize) is treated like any unauthorized server: it
// stays out and the controller is asked to look, as it owns the server's authorization.
func (c *catalog) finish(ctx context.Context, j catalogJob, conn *upstreamConn, err error) {
	c.mu.Lock()
	delete(c.busy, j.nn)
	var closeConn *upstreamConn
	switch {
	case err != nil:
		c.retryAt[j.nn] = time.Now().Add(c.tuning.RetryDelay)
		if j.conn != nil && c.conns[j.nn] == j.conn {
			delete(c.conns, j.nn)
			closeConn = j.conn
		}
	case j.conn != nil: // relisted
	case ctx.Err() != nil: // the catalog stopped while the connect ran
		closeConn = conn
	case c.conns[j.nn] != nil && !c.conns[j.nn].dead(): // a tool call reconnected meanwhile
		closeConn = conn
	default:
		c.conns[j.nn] = conn
		delete(c.retryAt, j.nn)
	}
	c.mu.Unlock()
	if closeConn != nil {
		closeConn.close()
	}
	if err != nil {
		c.failed(j.nn, err)
	}
	if err == nil || closeConn != nil {
		c.poke() // the catalog changed: the next sync rebuilds it
	}
}

// failed logs why a server is out of the catalog, naming a crossed bound, and asks the
// controller to look at a server that refused the gateway's credentials.
func (c *catalog) failed(nn types.NamespacedName, err error) {
	var le *mcpconn.LimitError
	var ce *mcpconn.ChallengeError
	switch {
	case errors.As(err, &le):
		c.g.log.Info("An upstream's answer crossed a bound; it is left out of the tool catalog",
			"server", nn.String(), "bound", le.Limit, "max", le.Max)
	case errors.As(err, &ce) || errors.Is(err, mcpconn.ErrUnauthorized) || errors.Is(err, mcpconn.ErrForbidden):
		c.g.log.Info("An upstream refused the gateway's credentials; it is left out of the tool catalog",
			"server", nn.String(), "error", err.Error())
		c.g.up.look(nn)
	default:
		c.g.log.Info("Failed to open the gateway's session to an upstream or list its tools",
			"server", nn.String(), "error", err.Error())
	}
}
