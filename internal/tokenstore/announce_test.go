package tokenstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waitersRegistered polls, with a deadline, until n waiters are blocked in WaitNewer, so a
// test's commit exercises the wake-up rather than WaitNewer's first read.
func waitersRegistered(t *testing.T, s *Store, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.announced.waiting.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters registered, want %d", s.announced.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// noWaitersLeft checks that every waiter released its registration.
func noWaitersLeft(t *testing.T, s *Store) {
	t.Helper()
	s.announced.mu.Lock()
	defer s.announced.mu.Unlock()
	if n := s.announced.waiting.Load(); n != 0 || len(s.announced.keys) != 0 {
		t.Fatalf("%d waiters and %d keys left registered", n, len(s.announced.keys))
	}
}

type waitResult struct {
	rec *Record
	err error
}

func waitAsync(ctx context.Context, s *Store, k Key, rev uint64) <-chan waitResult {
	out := make(chan waitResult, 1)
	go func() {
		rec, err := s.WaitNewer(ctx, k, rev)
		out <- waitResult{rec, err}
	}()
	return out
}

func TestWaitNewerWakesOnCommit(t *testing.T) {
	k, other := testKey("a"), testKey("b")
	for name, commit := range map[string]func(t *testing.T, s *Store, rev uint64) uint64{
		"save": func(t *testing.T, s *Store, rev uint64) uint64 {
			next, err := s.Save(k, testRecord(k), rev)
			if err != nil {
				t.Fatal(err)
			}
			return next
		},
		// A delete wakes the waiter, which waits through the gap for the next record; commits
		// of other keys never end the wait.
		"delete, other key, then save": func(t *testing.T, s *Store, _ uint64) uint64 {
			if err := s.Delete(k); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(other, testRecord(other), 0); err != nil {
				t.Fatal(err)
			}
			next, err := s.Save(k, testRecord(k), 0)
			if err != nil {
				t.Fatal(err)
			}
			return next
		},
		"delete server, then save": func(t *testing.T, s *Store, _ uint64) uint64 {
			if _, err := s.DeleteServer(k.Namespace, k.Name); err != nil {
				t.Fatal(err)
			}
			next, err := s.Save(k, testRecord(k), 0)
			if err != nil {
				t.Fatal(err)
			}
			return next
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := openTest(t, t.TempDir()+"/tokens.db", Options{NoSync: true})
			rev, err := s.Save(k, testRecord(k), 0)
			if err != nil {
				t.Fatal(err)
			}
			const waiters = 8
			var results []<-chan waitResult
			for range waiters {
				results = append(results, waitAsync(context.Background(), s, k, rev))
			}
			waitersRegistered(t, s, waiters)
			want := commit(t, s, rev)
			for _, res := range results {
				select {
				case r := <-res:
					if r.err != nil || r.rec.Revision != want || r.rec.AccessToken != secretAccess {
						t.Fatalf("WaitNewer = %+v, %v; want revision %d", r.rec, r.err, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("a waiter was not woken by the commit")
				}
			}
			noWaitersLeft(t, s)
		})
	}
}

func TestWaitNewerReturnsAtOnceForANewerRecord(t *testing.T) {
	s := openTest(t, t.TempDir()+"/tokens.db", Options{NoSync: true})
	k := testKey("a")
	rev, err := s.Save(k, testRecord(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	// An expired context proves no wait happened: only the first read can answer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, seen := range []uint64{0, rev - 1} {
		if rec, err := s.WaitNewer(context.Background(), k, seen); err != nil || rec.Revision != rev {
			t.Fatalf("WaitNewer(%d) = %+v, %v; want revision %d", seen, rec, err, rev)
		}
	}
	if _, err := s.WaitNewer(ctx, k, rev); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitNewer of the current revision with a cancelled context = %v, want context.Canceled", err)
	}
	noWaitersLeft(t, s)
}

func TestWaitNewerEndsWithoutLeaking(t *testing.T) {
	k := testKey("a")
	for name, c := range map[string]struct {
		end  func(s *Store, cancel context.CancelFunc)
		want error
	}{
		"context cancelled": {end: func(_ *Store, cancel context.CancelFunc) { cancel() }, want: context.Canceled},
		"store closed":      {end: func(s *Store, _ context.CancelFunc) { _ = s.Close() }, want: ErrClosed},
	} {
		t.Run(name, func(t *testing.T) {
			s := openTest(t, t.TempDir()+"/tokens.db", Options{NoSync: true})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const waiters = 4
			var wg sync.WaitGroup
			errs := make(chan error, waiters)
			for range waiters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.WaitNewer(ctx, k, 0) // no record: waits
					errs <- err
				}()
			}
			waitersRegistered(t, s, waiters)
			c.end(s, cancel)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, c.want) {
					t.Fatalf("WaitNewer = %v, want %v", err, c.want)
				}
			}
			noWaitersLeft(t, s)
		})
	}
}

// Saves race waiters that keep re-subscribing: every waiter sees every revision it waits past,
// never misses the last one, and the registry is empty afterwards.
func TestWaitNewerUnderConcurrentSaves(t *testing.T) {
	s := openTest(t, t.TempDir()+"/tokens.db", Options{NoSync: true})
	k := testKey("a")
	const saves, waiters = 50, 4
	var last uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range saves {
			rev, err := s.Save(k, testRecord(k), last)
			if err != nil {
				t.Error(err)
				return
			}
			last = rev
		}
	}()
	// A fresh store's revisions count from 1, so the last of one writer's saves is `saves`.
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for seen := uint64(0); seen < saves; {
				rec, err := s.WaitNewer(ctx, k, seen)
				if err != nil {
					t.Errorf("WaitNewer after revision %d: %v", seen, err)
					return
				}
				if rec.Revision <= seen {
					t.Errorf("revision went back from %d to %d", seen, rec.Revision)
				}
				seen = rec.Revision
			}
		}()
	}
	wg.Wait()
	<-done
	if last != saves {
		t.Fatalf("the last save has revision %d, want %d", last, saves)
	}
	noWaitersLeft(t, s)
}
