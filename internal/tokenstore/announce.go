package tokenstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// announcer wakes those waiting for a record to change. A commit closes the channel of each key
// it wrote, so every waiter of that key wakes at once and reads the record again: an
// announcement carries no data, and several commits before a waiter runs coalesce into one
// wake-up.
type announcer struct {
	// waiting counts registered waiters, so that a commit nobody waits for costs one atomic
	// load and no lock.
	waiting atomic.Int64
	mu      sync.Mutex
	keys    map[string]*keyWaiters
}

type keyWaiters struct {
	ch chan struct{} // closed by the next commit of the key
	n  int           // waiters holding ch
}

// subscribe registers a waiter for the next commit of storage key sk. The waiter must call
// release when done, woken or not, so that keys nobody waits for are forgotten.
func (a *announcer) subscribe(sk string) (<-chan struct{}, func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.keys == nil {
		a.keys = map[string]*keyWaiters{}
	}
	w := a.keys[sk]
	if w == nil {
		w = &keyWaiters{ch: make(chan struct{})}
		a.keys[sk] = w
	}
	w.n++
	a.waiting.Add(1)
	return w.ch, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.waiting.Add(-1)
		if w.n--; w.n == 0 && a.keys[sk] == w {
			delete(a.keys, sk)
		}
	}
}

// announce wakes the waiters of storage key sk. It runs after the commit is durable.
//
// A waiter subscribes before it reads the record, and a commit is visible before it is
// announced; so either the waiter's read sees the commit, or the announcement sees the waiter
// (Go's atomics and locks are sequentially consistent).
func (a *announcer) announce(sk string) {
	if a.waiting.Load() == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.keys[sk]; w != nil {
		close(w.ch)
		delete(a.keys, sk)
	}
}

// WaitNewer returns the record stored under k once its revision is not rev, without polling:
// every Save, Delete and DeleteServer announces the keys it committed. A missing record is
// waited through (a Delete wakes the waiter, which keeps waiting for a record), so pass the
// revision last seen, or 0 to wait for any record. It returns ctx's error when ctx ends first,
// ErrClosed when the store closes, and Load's error for a record that cannot be read. A waiter
// that leaves holds nothing: its registration is released on return.
func (s *Store) WaitNewer(ctx context.Context, k Key, rev uint64) (*Record, error) {
	return waitNewer(ctx, &s.announced, k, rev, s.Load, s.done)
}

// waitNewer is WaitNewer for any backend: load reads the record, a announces its writes, and
// closed ends the wait with ErrClosed.
func waitNewer(ctx context.Context, a *announcer, k Key, rev uint64, load func(Key) (*Record, error), closed <-chan struct{}) (*Record, error) {
	sk, err := k.storageKey()
	if err != nil {
		return nil, err
	}
	for {
		changed, release := a.subscribe(string(sk))
		rec, err := load(k)
		switch {
		case err == nil && rec.Revision != rev:
			release()
			return rec, nil
		case err != nil && !isNotFound(err):
			release()
			return nil, err
		}
		select {
		case <-changed:
			release()
		case <-ctx.Done():
			release()
			return nil, fmt.Errorf("waiting for a new revision of token %s: %w", k, ctx.Err())
		case <-closed:
			release()
			return nil, fmt.Errorf("waiting for a new revision of token %s: %w", k, ErrClosed)
		}
	}
}

// Announcer is the wake-up registry of WaitNewer for another backend: it announces each
// storage key once the write is visible to its Load, and WaitNewer waits on it exactly as
// Store.WaitNewer does. The zero value is ready to use.
type Announcer struct{ a announcer }

// Announce wakes the waiters of storage key sk; call it after the write is visible to Load.
func (a *Announcer) Announce(sk string) { a.a.announce(sk) }

// Waiting is how many WaitNewer calls are registered now.
func (a *Announcer) Waiting() int64 { return a.a.waiting.Load() }

// WaitNewer returns the record under k once its revision is not rev (see Store.WaitNewer):
// load reads the record, and closed ends the wait with ErrClosed.
func (a *Announcer) WaitNewer(ctx context.Context, k Key, rev uint64, load func(Key) (*Record, error), closed <-chan struct{}) (*Record, error) {
	return waitNewer(ctx, &a.a, k, rev, load, closed)
}
