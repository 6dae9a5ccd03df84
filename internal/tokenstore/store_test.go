package tokenstore

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	s, path := newTestStore(t)
	k := testKey("github")
	want := testRecord(k)
	rev, err := s.Save(k, want, 0)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	if rev == 0 {
		t.Fatal("Save returned revision 0")
	}
	if want.Revision != 0 {
		t.Error("Save modified the caller's record")
	}
	got, err := s.Load(k)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want.Revision = rev
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %#v\nwant %#v", got, want)
	}

	// Survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, path, Options{})
	got, err = s2.Load(k)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen Load = %v, %v", got, err)
	}
}

func TestLoadNotFound(t *testing.T) {
	s, _ := newTestStore(t)
	if _, err := s.Load(testKey("nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load = %v, want ErrNotFound", err)
	}
}

func TestCompareAndSwap(t *testing.T) {
	s, _ := newTestStore(t)
	k := testKey("cas")
	r := testRecord(k)
	rev1, err := s.Save(k, r, 0)
	if err != nil {
		t.Fatal(err)
	}

	// "Must not exist" fails once it exists.
	_, err = s.Save(k, r, 0)
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) || ce.Current != rev1 || ce.Expected != 0 {
		t.Fatalf("second create = %v, want ConflictError{Current: %d}", err, rev1)
	}

	rev2, err := s.Save(k, r, rev1)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("update = %d, %v; want > %d", rev2, err, rev1)
	}

	// An older writer cannot overwrite the newer token.
	old := testRecord(k)
	old.RefreshToken = "rt-stale"
	if _, err := s.Save(k, old, rev1); !errors.As(err, &ce) || ce.Current != rev2 {
		t.Fatalf("stale save = %v, want conflict at %d", err, rev2)
	}
	got, _ := s.Load(k)
	if got.RefreshToken != secretRefresh || got.Revision != rev2 {
		t.Fatalf("stale save changed the record: rev %d", got.Revision)
	}

	// Expecting a revision of an absent record conflicts with Current 0.
	if _, err := s.Save(testKey("absent"), testRecord(testKey("absent")), 7); !errors.As(err, &ce) || ce.Current != 0 {
		t.Fatalf("save to absent with rev = %v", err)
	}
}

func TestRevisionsNeverReused(t *testing.T) {
	s, _ := newTestStore(t)
	k := testKey("aba")
	rev1, err := s.Save(k, testRecord(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(k); err != nil {
		t.Fatal(err)
	}
	rev2, err := s.Save(k, testRecord(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rev2 <= rev1 {
		t.Fatalf("revision after delete+create = %d, want > %d", rev2, rev1)
	}
	// A writer holding the pre-delete revision must lose.
	if _, err := s.Save(k, testRecord(k), rev1); !errors.Is(err, ErrConflict) {
		t.Fatalf("save with pre-delete revision = %v, want conflict", err)
	}
}

func TestConcurrentCASOneWinner(t *testing.T) {
	s, _ := newTestStore(t)
	k := testKey("race")
	base, err := s.Save(k, testRecord(k), 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range n {
		wg.Go(func() {
			_, err := s.Save(k, testRecord(k), base)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrConflict):
				conflicts++
			default:
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("wins=%d conflicts=%d, want 1 and %d", wins, conflicts, n-1)
	}
}

func TestConcurrentSavesDifferentServers(t *testing.T) {
	s, _ := newTestStore(t)
	const n = 64
	var wg sync.WaitGroup
	revs := make([]uint64, n)
	for i := range n {
		wg.Go(func() {
			k := testKey(fmt.Sprintf("srv-%d", i))
			rev, err := s.Save(k, testRecord(k), 0)
			if err != nil {
				t.Errorf("Save %d: %v", i, err)
			}
			revs[i] = rev
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i, rev := range revs {
		if seen[rev] {
			t.Errorf("revision %d handed out twice", rev)
		}
		seen[rev] = true
		k := testKey(fmt.Sprintf("srv-%d", i))
		if r, err := s.Load(k); err != nil || r.Revision != rev {
			t.Errorf("Load %d = %v, %v; want revision %d", i, r, err, rev)
		}
	}
}

func TestDeleteServerIsPrefixSafe(t *testing.T) {
	s, _ := newTestStore(t)
	save := func(ns, name, url string) Key {
		k := Key{Namespace: ns, Name: name, Binding: Binding{ServerURL: url}}
		if _, err := s.Save(k, &Record{AccessToken: "x"}, 0); err != nil {
			t.Fatal(err)
		}
		return k
	}
	a1 := save("ns", "a", "https://one")
	a2 := save("ns", "a", "https://two")
	others := []Key{
		save("ns", "a-b", "https://one"),
		save("ns", "ab", "https://one"),
		save("ns-x", "a", "https://one"),
		save("n", "s", "https://one"),
	}
	n, err := s.DeleteServer("ns", "a")
	if err != nil || n != 2 {
		t.Fatalf("DeleteServer = %d, %v; want 2", n, err)
	}
	for _, k := range []Key{a1, a2} {
		if _, err := s.Load(k); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s still present: %v", k, err)
		}
	}
	for _, k := range others {
		if _, err := s.Load(k); err != nil {
			t.Errorf("%s was touched: %v", k, err)
		}
	}
	if n, err := s.DeleteServer("ns", "a"); err != nil || n != 0 {
		t.Errorf("second DeleteServer = %d, %v", n, err)
	}
	if err := s.Delete(a1); err != nil {
		t.Errorf("Delete of absent record: %v", err)
	}
}

func TestURLChangeIsolation(t *testing.T) {
	s, _ := newTestStore(t)
	oldKey := testKey("srv")
	if _, err := s.Save(oldKey, testRecord(oldKey), 0); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Binding){
		"url":      func(b *Binding) { b.ServerURL = "https://evil.example.com/srv" },
		"issuer":   func(b *Binding) { b.Issuer = "https://other-issuer" },
		"clientID": func(b *Binding) { b.ClientID = "other-client" },
		"resource": func(b *Binding) { b.Resource = "https://mcp.example.com/" },
	} {
		t.Run(name, func(t *testing.T) {
			k := oldKey
			mutate(&k.Binding)
			if _, err := s.Load(k); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Load under changed %s = %v, want ErrNotFound", name, err)
			}
			if st := s.status(k, time.Now()); st.Present {
				t.Fatalf("Status under changed %s = %+v", name, st)
			}
		})
	}
	// The old binding is findable for clean-up.
	list, err := s.listServer("team-a", "srv")
	if err != nil || len(list) != 1 || list[0].Key != oldKey || list[0].Hash != oldKey.Binding.Hash() {
		t.Fatalf("listServer = %+v, %v", list, err)
	}
	// Field boundaries are unambiguous.
	b1 := Binding{ServerURL: "ab", Issuer: "c"}
	b2 := Binding{ServerURL: "a", Issuer: "bc"}
	if b1.Hash() == b2.Hash() {
		t.Fatal("binding hash ignores field boundaries")
	}
}

func TestSaveRejectsContradictoryRecord(t *testing.T) {
	s, _ := newTestStore(t)
	k := testKey("srv")
	r := testRecord(k)
	r.ServerURL = "https://somewhere-else"
	if _, err := s.Save(k, r, 0); !errors.Is(err, ErrBindingMismatch) {
		t.Fatalf("Save = %v, want ErrBindingMismatch", err)
	}
}

func TestInvalidKeys(t *testing.T) {
	s, _ := newTestStore(t)
	for _, k := range []Key{{Name: "x"}, {Namespace: "x"}, {Namespace: "a/b", Name: "c"}, {Namespace: "a", Name: "b\x00"}} {
		if _, err := s.Save(k, &Record{}, 0); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Save(%q/%q) = %v", k.Namespace, k.Name, err)
		}
		if _, err := s.Load(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Load(%q/%q) = %v", k.Namespace, k.Name, err)
		}
	}
	if _, err := s.DeleteServer("a/b", "c"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("DeleteServer = %v", err)
	}
}

func TestStatus(t *testing.T) {
	s, _ := newTestStore(t)
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	k := testKey("st")
	if st := s.status(k, now); st != (tokenState{}) {
		t.Fatalf("absent: %+v", st)
	}
	r := testRecord(k) // expires 13:00
	rev, _ := s.Save(k, r, 0)
	st := s.status(k, now)
	want := tokenState{Present: true, Valid: true, HasRefreshToken: true, Expiry: r.Expiry, Revision: rev}
	if st != want {
		t.Fatalf("valid: %+v, want %+v", st, want)
	}
	if st := s.status(k, r.Expiry); st.Valid || !st.HasRefreshToken {
		t.Fatalf("at expiry: %+v", st)
	}
	r.RefreshToken, r.Expiry = "", time.Time{}
	rev, _ = s.Save(k, r, rev)
	if st := s.status(k, now.Add(100*time.Hour)); !st.Valid || st.HasRefreshToken || st.Revision != rev {
		t.Fatalf("unknown expiry, no refresh token: %+v", st)
	}
	if got := fmt.Sprintf("%+v", s.status(k, now)); containsSecret(got) {
		t.Fatalf("status leaks a secret: %s", got)
	}
}

func TestClosed(t *testing.T) {
	s, _ := newTestStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	k := testKey("x")
	if _, err := s.Save(k, testRecord(k), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close = %v", err)
	}
	if _, err := s.Load(k); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close = %v", err)
	}
}

func TestCloseDuringSaves(t *testing.T) {
	s, path := newTestStore(t)
	var wg sync.WaitGroup
	acked := make([]uint64, 32)
	for i := range acked {
		wg.Go(func() {
			k := testKey(fmt.Sprintf("c-%d", i))
			var rev uint64
			for {
				next, err := s.Save(k, testRecord(k), rev)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Save: %v", err)
					return
				}
				rev = next
				acked[i] = rev
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = openTest(t, path, Options{})
	for i, rev := range acked {
		if rev == 0 {
			continue
		}
		if r, err := s.Load(testKey(fmt.Sprintf("c-%d", i))); err != nil || r.Revision != rev {
			t.Errorf("server %d: Load = %v, %v; want revision %d", i, r, err, rev)
		}
	}
}
