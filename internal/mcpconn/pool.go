package mcpconn

import (
	"context"
	"iter"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
)

// Pool holds at most one session per key (namespace/name of an UpstreamServer).
type Pool struct {
	clientName string
	notify     func(key string)
	base       http.RoundTripper
	limits     Limits
	mu         sync.Mutex
	sessions   map[string]*Session
}

// NewPool returns an empty pool. notify(key) is called when a session of key drops or sees a
// 401. base sends every session's requests (Options.Base; nil means the default).
func NewPool(clientName string, notify func(key string), base http.RoundTripper) *Pool {
	return &Pool{clientName: clientName, notify: notify, base: base, sessions: map[string]*Session{}}
}

// SetLimits sets the bounds of the sessions dialled from now on (zero fields: the defaults).
// Call it before the pool is shared.
func (p *Pool) SetLimits(l Limits) { p.limits = l }

// Get returns the session of key, or nil.
func (p *Pool) Get(key string) *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[key]
}

// Ensure returns a healthy session of key for target, dialing a new one when there is none,
// when the target changed, or when the old one is unhealthy. token is target's: an existing
// session for the same target gets it. A session for another target is closed without any
// credential (its DELETE included): they are not its target's. dialed says whether a new
// session was opened.
func (p *Pool) Ensure(ctx context.Context, key string, target Target, token string) (s *Session, dialed bool, err error) {
	if old := p.Get(key); old != nil {
		if old.Healthy() && old.target.equal(target) {
			old.setCredentials(token)
			old.unauthorized.Store(false)
			return old, false, nil
		}
		if !old.target.equal(target) {
			old.dropCredentials()
		}
		p.Close(key)
	}
	// The owner hears of a drop or a 401 only once the session is in the pool: a dial that
	// fails returns its error to the caller, and a notification then would only make the owner
	// dial again at once (a server whose answer crosses a bound would be dialled in a loop).
	var pooled atomic.Bool
	s, err = Dial(ctx, target, Options{ClientName: p.clientName, Token: token, Base: p.base, Limits: p.limits, Notify: func() {
		if p.notify != nil && pooled.Load() {
			p.notify(key)
		}
	}})
	if err != nil {
		return nil, false, err
	}
	defer pooled.Store(true)
	p.mu.Lock()
	if prev := p.sessions[key]; prev != nil {
		_ = prev.Close()
	}
	p.sessions[key] = s
	p.mu.Unlock()
	return s, true, nil
}

// Close closes and forgets the session of key, if any.
func (p *Pool) Close(key string) {
	p.mu.Lock()
	s := p.sessions[key]
	delete(p.sessions, key)
	p.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
}

// size is the number of held sessions.
func (p *Pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// closeParallel bounds how many sessions CloseAll ends at once. Ending a streamable HTTP
// session sends a DELETE (bounded by the SDK's own timeout); one after the other, 5,000 of them
// took longer than a pod's grace period at shutdown.
const closeParallel = 64

// CloseAll closes every session, up to closeParallel at a time, and returns when all are closed.
func (p *Pool) CloseAll() {
	p.mu.Lock()
	all := p.sessions
	p.sessions = map[string]*Session{}
	p.mu.Unlock()
	CloseEach(maps.Values(all))
}

// CloseEach closes sessions closeParallel at a time, and returns when all are closed. Closing
// a streamable session ends it on the server (a DELETE round trip): one after another, 5,000
// took longer than the pod's grace period.
func CloseEach(sessions iter.Seq[*Session]) {
	sem := make(chan struct{}, closeParallel)
	var wg sync.WaitGroup
	for s := range sessions {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = s.Close()
		})
	}
	wg.Wait()
}
