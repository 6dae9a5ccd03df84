package tokenstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

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
