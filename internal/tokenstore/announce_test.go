package tokenstore

import (
	"context"
	"sync"
	"testing"
	"time"
)

// noWaitersLeft checks that every waiter released its registration.
func noWaitersLeft(t *testing.T, s *Store) {
	t.Helper()
	s.announced.mu.Lock()
	defer s.announced.mu.Unlock()
	if n := s.announced.waiting.Load(); n != 0 || len(s.announced.keys) != 0 {
		t.Fatalf("%d waiters and %d keys left registered", n, len(s.announced.keys))
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
