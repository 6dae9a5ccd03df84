// Package browserlogin coordinates interactive browser logins: at most one flow per server at a
// time (a second request joins the running flow), stale flows are replaced, and the browser is
// opened at most once per server per rate window. It also holds what the CLI and the manager
// share about a login: opening the browser ($BROWSER, xdg-open, open) and turning an
// oauth.LoginResult into a hand-over payload. It imports nothing from Kubernetes.
package browserlogin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// DefaultBrowserInterval is how often, at most, the browser is opened for one server.
const DefaultBrowserInterval = 5 * time.Minute

// DefaultMaxFlowAge is how long a flow may run before a new request replaces it.
const DefaultMaxFlowAge = oauth.DefaultLoginTimeout + time.Minute

// ErrRateLimited is returned when the browser was opened for the server too recently.
var ErrRateLimited = errors.New("browserlogin: the browser was opened for this server too recently")

// ErrStale is the cancellation cause of a flow replaced because it ran too long.
var ErrStale = errors.New("browserlogin: the flow ran too long and was replaced")

// ErrCancelled is the cancellation cause of a flow stopped by Cancel or Close.
var ErrCancelled = errors.New("browserlogin: the flow was cancelled")

// Func runs one login flow. It must send the user to the authorization URL only through open,
// which enforces the rate limit, and stop when ctx is done.
type Func func(ctx context.Context, open func(authURL string) error) error

// Options configure a Coordinator. Zero values take the documented defaults.
type Options struct {
	// OpenBrowser sends the user to a URL; nil means OpenURL.
	OpenBrowser func(url string) error
	// BrowserInterval is the per-server rate window of browser opens (DefaultBrowserInterval).
	BrowserInterval time.Duration
	// MaxFlowAge is how long a flow may run before a request replaces it (DefaultMaxFlowAge).
	MaxFlowAge time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Coordinator runs login flows, one per server key. It is safe for concurrent use.
type Coordinator struct {
	opts   Options
	root   context.Context
	stop   context.CancelCauseFunc
	mu     sync.Mutex
	flows  map[string]*Flow
	opened map[string]time.Time // key → last browser open
	wg     sync.WaitGroup
}

// Flow is one running or finished login flow.
type Flow struct {
	key     string
	started time.Time
	cancel  context.CancelCauseFunc
	done    chan struct{}
	err     error
}

// Done is closed when the flow has finished.
func (f *Flow) Done() <-chan struct{} { return f.done }

// Err is the flow's result; valid after Done is closed.
func (f *Flow) Err() error { return f.err }

// Started is when the flow started, by the coordinator's clock.
func (f *Flow) Started() time.Time { return f.started }

// Wait blocks until the flow finishes or ctx is done, and returns the flow's result.
func (f *Flow) Wait(ctx context.Context) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns a Coordinator. Call Close to stop every flow.
func New(opts Options) *Coordinator {
	if opts.OpenBrowser == nil {
		opts.OpenBrowser = OpenURL
	}
	if opts.BrowserInterval <= 0 {
		opts.BrowserInterval = DefaultBrowserInterval
	}
	if opts.MaxFlowAge <= 0 {
		opts.MaxFlowAge = DefaultMaxFlowAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	root, stop := context.WithCancelCause(context.Background())
	return &Coordinator{opts: opts, root: root, stop: stop, flows: map[string]*Flow{}, opened: map[string]time.Time{}}
}

// Request starts fn for key in its own goroutine unless a flow for key is running, in which case
// it returns that flow (joined reports true). A running flow older than MaxFlowAge is cancelled
// and replaced. It never blocks on a flow. When the browser was opened for key less than
// BrowserInterval ago, it starts nothing and returns ErrRateLimited.
func (c *Coordinator) Request(key string, fn Func) (f *Flow, joined bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.root.Err() != nil {
		return nil, false, fmt.Errorf("browserlogin: coordinator closed: %w", ErrCancelled)
	}
	now := c.opts.Now()
	if cur := c.flows[key]; cur != nil {
		if now.Sub(cur.started) < c.opts.MaxFlowAge {
			return cur, true, nil
		}
		cur.cancel(ErrStale)
		delete(c.flows, key)
	}
	if last, ok := c.opened[key]; ok && now.Sub(last) < c.opts.BrowserInterval {
		return nil, false, ErrRateLimited
	}
	ctx, cancel := context.WithCancelCause(c.root)
	f = &Flow{key: key, started: now, cancel: cancel, done: make(chan struct{})}
	c.flows[key] = f
	c.wg.Add(1)
	go c.run(ctx, f, fn)
	return f, false, nil
}

func (c *Coordinator) run(ctx context.Context, f *Flow, fn Func) {
	defer c.wg.Done()
	err := fn(ctx, func(url string) error { return c.open(f, url) })
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	f.cancel(nil)
	c.mu.Lock()
	if c.flows[f.key] == f {
		delete(c.flows, f.key)
	}
	c.mu.Unlock()
	f.err = err
	close(f.done)
}

// open opens the browser for f's server unless it was opened within the rate window.
func (c *Coordinator) open(f *Flow, url string) error {
	c.mu.Lock()
	now := c.opts.Now()
	if last, ok := c.opened[f.key]; ok && now.Sub(last) < c.opts.BrowserInterval {
		c.mu.Unlock()
		return ErrRateLimited
	}
	if c.flows[f.key] != f {
		c.mu.Unlock()
		return fmt.Errorf("browserlogin: flow replaced: %w", ErrStale)
	}
	c.opened[f.key] = now
	c.mu.Unlock()
	return c.opts.OpenBrowser(url)
}

// Running returns the running flow for key, or nil.
func (c *Coordinator) Running(key string) *Flow {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flows[key]
}

// Cancel stops the running flow for key, if any (for example: the server no longer needs a login).
func (c *Coordinator) Cancel(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flows[key]; f != nil {
		f.cancel(ErrCancelled)
		delete(c.flows, key)
	}
}

// Close cancels every flow and waits for their goroutines to return.
func (c *Coordinator) Close() {
	c.stop(ErrCancelled)
	c.wg.Wait()
}
