package secretstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
)

// Two replicas on one API server: a save on one is seen by the other's Load and wakes its
// WaitNewer; a writer holding an old revision loses on either; a record deleted on one and
// created again on the other gets a revision above every old one.
func TestTwoReplicasShareTheStore(t *testing.T) {
	cfg := testenv.Current().Config
	ns, keys := newNamespace(t), storetest.KeyFile(t, 1)
	a, b := open(t, clientset(t, cfg), ns, keys), open(t, clientset(t, cfg), ns, keys)
	k := storetest.TestKey("shared")

	// b waits for a record nobody has saved yet; a's save wakes it through b's informer.
	woken := storetest.WaitAsync(context.Background(), b, k, 0)
	storetest.WaitersRegistered(t, b.Waiting, 1)
	rev1, err := a.Save(k, storetest.TestRecord(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Woken(t, woken, rev1)
	if r, err := b.Load(k); err != nil || r.Revision != rev1 {
		t.Fatalf("b.Load after the wake-up = %v, %v", r, err)
	}

	// b moves on; a, holding rev1, loses, and is told the current revision.
	woken = storetest.WaitAsync(context.Background(), a, k, rev1)
	storetest.WaitersRegistered(t, a.Waiting, 1)
	rev2, err := b.Save(k, storetest.TestRecord(k), rev1)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("b.Save = %d, %v", rev2, err)
	}
	storetest.Woken(t, woken, rev2)
	var ce *tokenstore.ConflictError
	if _, err := b.Save(k, storetest.TestRecord(k), rev1); !errors.As(err, &ce) || ce.Current != rev2 {
		t.Fatalf("a stale save on b = %v, want a conflict at %d", err, rev2)
	}
	if _, err := a.Save(k, storetest.TestRecord(k), rev1); !errors.As(err, &ce) || ce.Current != rev2 {
		t.Fatalf("a stale save on a = %v, want a conflict at %d", err, rev2)
	}

	// b deletes; a creates again at once, whatever its informer has seen yet.
	if n, err := b.DeleteServer(k.Namespace, k.Name); err != nil || n != 1 {
		t.Fatalf("b.DeleteServer = %d, %v", n, err)
	}
	if _, err := b.Load(k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("b.Load right after its own delete = %v", err)
	}
	if _, err := a.Save(k, storetest.TestRecord(k), rev2); !errors.As(err, &ce) || ce.Current != 0 {
		t.Fatalf("a save of the deleted revision = %v, want a conflict at 0", err)
	}
	rev3, err := a.Save(k, storetest.TestRecord(k), 0)
	if err != nil || rev3 <= rev2 {
		t.Fatalf("a.Save after b's delete = %d, %v; want > %d", rev3, err, rev2)
	}
	rec, err := b.WaitNewer(context.Background(), k, rev2)
	if err != nil || rec.Revision != rev3 {
		t.Fatalf("b.WaitNewer after the re-creation = %v, %v; want %d", rec, err, rev3)
	}
}

// Replicas racing with the same expected revision: exactly one save wins, and every replica
// ends up reading the winner's record.
func TestConcurrentSavesAcrossReplicasOneWins(t *testing.T) {
	cfg := testenv.Current().Config
	ns, keys := newNamespace(t), storetest.KeyFile(t, 1)
	var replicas []*tokenStore
	for range 3 {
		replicas = append(replicas, &tokenStore{open(t, clientset(t, cfg), ns, keys)})
	}
	k := storetest.TestKey("race")
	base, err := replicas[0].Save(k, storetest.TestRecord(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if rec, err := r.WaitNewer(ctx, k, 0); err != nil || rec.Revision != base {
			t.Fatalf("a replica sees %v, %v; want %d", rec, err, base)
		}
		cancel()
	}
	const perReplica = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins []uint64
	conflicts := 0
	for _, r := range replicas {
		for range perReplica {
			wg.Go(func() {
				rev, err := r.Save(k, storetest.TestRecord(k), base)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, rev)
				case errors.Is(err, tokenstore.ErrConflict):
					conflicts++
				default:
					t.Errorf("Save: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if len(wins) != 1 || conflicts != len(replicas)*perReplica-1 {
		t.Fatalf("wins %v, conflicts %d; want one win", wins, conflicts)
	}
	for i, r := range replicas {
		testenv.Eventually(t, 10*time.Second, "every replica reads the winner", func() (bool, string) {
			rec, err := r.Load(k)
			if err != nil || rec.Revision != wins[0] {
				return false, fmt.Sprintf("replica %d reads %v, %v", i, rec, err)
			}
			return true, ""
		})
	}
}

// tokenStore lets a test hold replicas as the interface the manager uses.
type tokenStore struct{ tokenstore.Backend }
