package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// WaitersRegistered polls, with a deadline, until n WaitNewer calls are registered on s.
func WaitersRegistered(t testing.TB, waiters func() int64, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for waiters() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters registered, want %d", waiters(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// WaitResult is what an asynchronous WaitNewer returned.
type WaitResult struct {
	Rec *tokenstore.Record
	Err error
}

// WaitAsync runs WaitNewer in a goroutine.
func WaitAsync(ctx context.Context, s tokenstore.Backend, k tokenstore.Key, rev uint64) <-chan WaitResult {
	out := make(chan WaitResult, 1)
	go func() {
		rec, err := s.WaitNewer(ctx, k, rev)
		out <- WaitResult{rec, err}
	}()
	return out
}

// Woken fails the test unless res delivers revision want within the deadline.
func Woken(t testing.TB, res <-chan WaitResult, want uint64) {
	t.Helper()
	select {
	case r := <-res:
		if r.Err != nil || r.Rec.Revision != want || r.Rec.AccessToken != SecretAccess {
			t.Fatalf("WaitNewer = %v, %v; want revision %d", r.Rec, r.Err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiter was not woken by the write")
	}
}

func waitNewerWakesOnWrites(t *testing.T, f Fixture) {
	k, other := TestKey("a"), TestKey("b")
	for name, write := range map[string]func(t *testing.T, s tokenstore.Backend, rev uint64) uint64{
		"save": func(t *testing.T, s tokenstore.Backend, rev uint64) uint64 { return save(t, s, k, rev) },
		// A delete wakes the waiter, which waits through the gap for the next record; writes of
		// other keys never end the wait.
		"delete, other key, then save": func(t *testing.T, s tokenstore.Backend, _ uint64) uint64 {
			if err := s.Delete(k); err != nil {
				t.Fatal(err)
			}
			save(t, s, other, 0)
			return save(t, s, k, 0)
		},
		"delete server, then save": func(t *testing.T, s tokenstore.Backend, _ uint64) uint64 {
			if _, err := s.DeleteServer(k.Namespace, k.Name); err != nil {
				t.Fatal(err)
			}
			return save(t, s, k, 0)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := f.Open(t, KeyFile(t, 1))
			rev := save(t, s, k, 0)
			const waiters = 4
			var results []<-chan WaitResult
			for range waiters {
				results = append(results, WaitAsync(context.Background(), s, k, rev))
			}
			WaitersRegistered(t, func() int64 { return f.Waiters(s) }, waiters)
			want := write(t, s, rev)
			for _, res := range results {
				Woken(t, res, want)
			}
			WaitersRegistered(t, func() int64 { return f.Waiters(s) }, 0)
		})
	}
}

func waitNewerReturnsAtOnce(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	k := TestKey("a")
	rev := save(t, s, k, 0)
	for _, seen := range []uint64{0, rev - 1} {
		if rec, err := s.WaitNewer(context.Background(), k, seen); err != nil || rec.Revision != rev {
			t.Fatalf("WaitNewer(%d) = %v, %v; want revision %d", seen, rec, err, rev)
		}
	}
	// An expired context proves no wait happened: only the first read can answer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.WaitNewer(ctx, k, rev); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitNewer of the current revision with a cancelled context = %v, want context.Canceled", err)
	}
	if f.Waiters(s) != 0 {
		t.Fatalf("%d waiters left registered", f.Waiters(s))
	}
}

func waitNewerEndsWithoutLeaking(t *testing.T, f Fixture) {
	k := TestKey("a")
	for name, c := range map[string]struct {
		end  func(s tokenstore.Backend, cancel context.CancelFunc)
		want error
	}{
		"context cancelled": {end: func(_ tokenstore.Backend, cancel context.CancelFunc) { cancel() }, want: context.Canceled},
		"store closed":      {end: func(s tokenstore.Backend, _ context.CancelFunc) { _ = s.Close() }, want: tokenstore.ErrClosed},
	} {
		t.Run(name, func(t *testing.T) {
			s := f.Open(t, KeyFile(t, 1))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const waiters = 4
			var wg sync.WaitGroup
			errs := make(chan error, waiters)
			for range waiters {
				wg.Go(func() {
					_, err := s.WaitNewer(ctx, k, 0) // no record: waits
					errs <- err
				})
			}
			WaitersRegistered(t, func() int64 { return f.Waiters(s) }, waiters)
			c.end(s, cancel)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, c.want) {
					t.Fatalf("WaitNewer = %v, want %v", err, c.want)
				}
			}
			if n := f.Waiters(s); n != 0 {
				t.Fatalf("%d waiters left registered", n)
			}
		})
	}
}
