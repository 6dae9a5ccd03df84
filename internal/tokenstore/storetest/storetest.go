// Package storetest is the contract every token store backend (tokenstore.Backend) keeps: the
// one suite of store behaviour, run against bbolt (internal/tokenstore) and Kubernetes Secrets
// (internal/secretstore). A backend's own tests add what only it can break (a damaged bbolt
// file, two replicas on one API server).
package storetest

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// Fixture opens stores of one backend.
type Fixture struct {
	// Open returns a new, empty store of its own (its own file or namespace) sealing with the
	// keys of keyFile. The fixture closes it when the test ends.
	Open func(t *testing.T, keyFile string) tokenstore.Backend
	// Reopen closes s and opens its storage again with the keys of keyFile, as a restarted
	// manager would.
	Reopen func(t *testing.T, s tokenstore.Backend, keyFile string) tokenstore.Backend
	// Waiters is how many WaitNewer calls are registered on s, so a test's write exercises
	// the wake-up rather than WaitNewer's first read.
	Waiters func(s tokenstore.Backend) int64
}

// Run runs the contract against the fixture's backend, each case a subtest on stores of its own.
func Run(t *testing.T, f Fixture) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, f Fixture)
	}{
		{"RoundTripSurvivesReopen", roundTrip},
		{"LoadNotFound", loadNotFound},
		{"CompareAndSwap", compareAndSwap},
		{"RevisionsIncreaseAndAreNeverReused", revisionsNeverReused},
		{"ConcurrentCASOneWinner", concurrentCASOneWinner},
		{"ConcurrentSavesDifferentServers", concurrentSavesDifferentServers},
		{"DeleteServerIsPrefixSafe", deleteServerIsPrefixSafe},
		{"BindingIsolation", bindingIsolation},
		{"SaveRejectsContradictoryRecord", saveRejectsContradictoryRecord},
		{"InvalidKeys", invalidKeys},
		{"WaitNewerWakesOnWrites", waitNewerWakesOnWrites},
		{"WaitNewerReturnsAtOnceForANewerRecord", waitNewerReturnsAtOnce},
		{"WaitNewerEndsWithoutLeaking", waitNewerEndsWithoutLeaking},
		{"DamagedRecordIsReportedAlone", damagedRecord},
		{"ForeignKeyRecordIsReportedAlone", foreignKeyRecord},
		{"ResealThenDropOldKey", resealThenDropOldKey},
		{"ExportAndPutSealed", exportAndPutSealed},
		{"NoSecretInErrors", noSecretInErrors},
		{"Closed", closed},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, f) })
	}
}

// The records' secrets: no error, log line or stored byte may show them.
const (
	SecretAccess  = "at-SECRET-0123456789"
	SecretRefresh = "rt-SECRET-9876543210"
	SecretClient  = "cs-SECRET-abcdef"
)

// ContainsSecret reports whether s shows any of the test records' secrets.
func ContainsSecret(s string) bool {
	for _, secret := range []string{SecretAccess, SecretRefresh, SecretClient, "SECRET"} {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// TestKey is a key of server team-a/name.
func TestKey(name string) tokenstore.Key {
	return tokenstore.Key{Namespace: "team-a", Name: name, Binding: tokenstore.Binding{
		ServerURL: "https://mcp.example.com/" + name, Issuer: "https://auth.example.com", ClientID: "client-" + name,
	}}
}

// TestRecord is a full record for k, with every secret set.
func TestRecord(k tokenstore.Key) *tokenstore.Record {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return &tokenstore.Record{
		AccessToken: SecretAccess, RefreshToken: SecretRefresh, TokenType: "Bearer",
		Expiry: t0.Add(time.Hour), Scopes: []string{"mcp:read", "mcp:write"},
		Client: tokenstore.ClientRegistration{ClientID: k.Binding.ClientID, ClientSecret: SecretClient,
			AuthMethod: "client_secret_basic", RedirectURI: "http://127.0.0.1:8976/callback"},
		Issuer: k.Binding.Issuer, TokenEndpoint: "https://auth.example.com/token",
		RevocationEndpoint: "https://auth.example.com/revoke", ServerURL: k.Binding.ServerURL,
		ObtainedAt: t0, RefreshedAt: t0.Add(time.Minute), RefreshCount: 3, CorrelationID: "corr-1",
	}
}

// KeyFile writes a key file of fresh random keys (the first seals) and returns its path.
func KeyFile(t testing.TB, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	path := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// joinKeyFiles writes a key file holding a's keys, then b's.
func joinKeyFiles(t *testing.T, a, b string) string {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "joined.key")
	if err := os.WriteFile(path, append(da, db...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func keyring(t *testing.T, keyFile string) *tokenstore.Keyring {
	t.Helper()
	kr, err := tokenstore.LoadKeyring(keyFile, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func save(t *testing.T, s tokenstore.Backend, k tokenstore.Key, expect uint64) uint64 {
	t.Helper()
	rev, err := s.Save(k, TestRecord(k), expect)
	if err != nil {
		t.Fatalf("Save %s expecting %d: %v", k, expect, err)
	}
	return rev
}

// put stores a sealed value directly, as another backend or a damaged copy would have.
func put(t *testing.T, s tokenstore.Backend, k tokenstore.Key, v []byte) tokenstore.Sealed {
	t.Helper()
	sk, err := k.StorageKey()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tokenstore.ParseSealed(sk, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSealed(rec); err != nil {
		t.Fatalf("PutSealed %s: %v", rec, err)
	}
	return rec
}

func roundTrip(t *testing.T, f Fixture) {
	keys := KeyFile(t, 1)
	s := f.Open(t, keys)
	k := TestKey("github")
	want := TestRecord(k)
	rev, err := s.Save(k, want, 0)
	if err != nil || rev == 0 {
		t.Fatalf("Save = %d, %v", rev, err)
	}
	if want.Revision != 0 {
		t.Error("Save modified the caller's record")
	}
	want.Revision = rev
	if got, err := s.Load(k); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %#v, %v\nwant %#v", got, err, want)
	}
	s = f.Reopen(t, s, keys)
	if got, err := s.Load(k); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen Load = %#v, %v", got, err)
	}
}

func loadNotFound(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	if _, err := s.Load(TestKey("nope")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Load = %v, want ErrNotFound", err)
	}
}

func compareAndSwap(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	k := TestKey("cas")
	rev1 := save(t, s, k, 0)
	var ce *tokenstore.ConflictError
	// "Must not exist" fails once it exists.
	if _, err := s.Save(k, TestRecord(k), 0); !errors.As(err, &ce) || !errors.Is(err, tokenstore.ErrConflict) || ce.Current != rev1 || ce.Expected != 0 {
		t.Fatalf("second create = %v, want ConflictError{Current: %d}", err, rev1)
	}
	rev2 := save(t, s, k, rev1)
	if rev2 <= rev1 {
		t.Fatalf("update = %d, want > %d", rev2, rev1)
	}
	// An older writer cannot overwrite the newer token.
	old := TestRecord(k)
	old.RefreshToken = "rt-stale"
	if _, err := s.Save(k, old, rev1); !errors.As(err, &ce) || ce.Current != rev2 || ce.Expected != rev1 {
		t.Fatalf("stale save = %v, want conflict at %d", err, rev2)
	}
	if got, err := s.Load(k); err != nil || got.RefreshToken != SecretRefresh || got.Revision != rev2 {
		t.Fatalf("stale save changed the record: %v, %v", got, err)
	}
	// Expecting a revision of an absent record conflicts with Current 0.
	if _, err := s.Save(TestKey("absent"), TestRecord(TestKey("absent")), 7); !errors.As(err, &ce) || ce.Current != 0 {
		t.Fatalf("save to absent with rev = %v", err)
	}
}

func revisionsNeverReused(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	k := TestKey("aba")
	seen := map[uint64]bool{}
	var last uint64
	for i := range 5 {
		rev := save(t, s, k, last)
		if rev <= last || seen[rev] {
			t.Fatalf("save %d: revision %d after %d", i, rev, last)
		}
		seen[rev], last = true, rev
	}
	for name, remove := range map[string]func() error{
		"Delete":       func() error { return s.Delete(k) },
		"DeleteServer": func() error { _, err := s.DeleteServer(k.Namespace, k.Name); return err },
	} {
		if err := remove(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rev := save(t, s, k, 0)
		if rev <= last || seen[rev] {
			t.Fatalf("revision after %s and create = %d, want > %d", name, rev, last)
		}
		// A writer holding a pre-delete revision must lose.
		for old := range seen {
			if _, err := s.Save(k, TestRecord(k), old); !errors.Is(err, tokenstore.ErrConflict) {
				t.Fatalf("save with pre-%s revision %d = %v, want conflict", name, old, err)
			}
		}
		seen[rev], last = true, rev
	}
}

func concurrentCASOneWinner(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	k := TestKey("race")
	base := save(t, s, k, 0)
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range n {
		wg.Go(func() {
			_, err := s.Save(k, TestRecord(k), base)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, tokenstore.ErrConflict):
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

func concurrentSavesDifferentServers(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	const n = 16
	var wg sync.WaitGroup
	revs := make([]uint64, n)
	for i := range n {
		wg.Go(func() {
			k := TestKey(fmt.Sprintf("srv-%d", i))
			rev, err := s.Save(k, TestRecord(k), 0)
			if err != nil {
				t.Errorf("Save %d: %v", i, err)
			}
			revs[i] = rev
		})
	}
	wg.Wait()
	for i, rev := range revs {
		k := TestKey(fmt.Sprintf("srv-%d", i))
		if r, err := s.Load(k); err != nil || r.Revision != rev {
			t.Errorf("Load %d = %v, %v; want revision %d", i, r, err, rev)
		}
	}
}

func deleteServerIsPrefixSafe(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	mk := func(ns, name, url string) tokenstore.Key {
		k := tokenstore.Key{Namespace: ns, Name: name, Binding: tokenstore.Binding{ServerURL: url}}
		if _, err := s.Save(k, &tokenstore.Record{AccessToken: "x"}, 0); err != nil {
			t.Fatal(err)
		}
		return k
	}
	a1, a2 := mk("ns", "a", "https://one"), mk("ns", "a", "https://two")
	others := []tokenstore.Key{mk("ns", "a-b", "https://one"), mk("ns", "ab", "https://one"), mk("ns-x", "a", "https://one"), mk("n", "s", "https://one")}
	if n, err := s.DeleteServer("ns", "a"); err != nil || n != 2 {
		t.Fatalf("DeleteServer = %d, %v; want 2", n, err)
	}
	for _, k := range []tokenstore.Key{a1, a2} {
		if _, err := s.Load(k); !errors.Is(err, tokenstore.ErrNotFound) {
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
		t.Errorf("Delete of an absent record: %v", err)
	}
}

func bindingIsolation(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	oldKey := TestKey("srv")
	save(t, s, oldKey, 0)
	for name, mutate := range map[string]func(*tokenstore.Binding){
		"url":      func(b *tokenstore.Binding) { b.ServerURL = "https://evil.example.com/srv" },
		"issuer":   func(b *tokenstore.Binding) { b.Issuer = "https://other-issuer" },
		"clientID": func(b *tokenstore.Binding) { b.ClientID = "other-client" },
		"resource": func(b *tokenstore.Binding) { b.Resource = "https://mcp.example.com/" },
	} {
		k := oldKey
		mutate(&k.Binding)
		if _, err := s.Load(k); !errors.Is(err, tokenstore.ErrNotFound) {
			t.Errorf("Load under a changed %s = %v, want ErrNotFound", name, err)
		}
	}
}

func saveRejectsContradictoryRecord(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	k := TestKey("srv")
	r := TestRecord(k)
	r.ServerURL = "https://somewhere-else"
	if _, err := s.Save(k, r, 0); !errors.Is(err, tokenstore.ErrBindingMismatch) {
		t.Fatalf("Save = %v, want ErrBindingMismatch", err)
	}
	if _, err := s.Load(k); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("a refused save stored something: %v", err)
	}
}

func invalidKeys(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	for _, k := range []tokenstore.Key{{Name: "x"}, {Namespace: "x"}, {Namespace: "a/b", Name: "c"}, {Namespace: "a", Name: "b\x00"}} {
		if _, err := s.Save(k, &tokenstore.Record{}, 0); !errors.Is(err, tokenstore.ErrInvalidKey) {
			t.Errorf("Save(%q/%q) = %v", k.Namespace, k.Name, err)
		}
		if _, err := s.Load(k); !errors.Is(err, tokenstore.ErrInvalidKey) {
			t.Errorf("Load(%q/%q) = %v", k.Namespace, k.Name, err)
		}
		if err := s.Delete(k); !errors.Is(err, tokenstore.ErrInvalidKey) {
			t.Errorf("Delete(%q/%q) = %v", k.Namespace, k.Name, err)
		}
	}
	if _, err := s.DeleteServer("a/b", "c"); !errors.Is(err, tokenstore.ErrInvalidKey) {
		t.Errorf("DeleteServer = %v", err)
	}
}
