package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// damagedRecord: a value whose ciphertext was damaged fails alone, with its revision, so that
// saving over that revision (or DeleteServer) replaces it; the store keeps working.
func damagedRecord(t *testing.T, f Fixture) {
	keys := KeyFile(t, 1)
	s := f.Open(t, keys)
	good := TestKey("good")
	goodRev := save(t, s, good, 0)
	bad := TestKey("bad")
	v, err := keyring(t, keys).Seal(bad, TestRecord(bad), 1000)
	if err != nil {
		t.Fatal(err)
	}
	v[len(v)-1] ^= 1
	put(t, s, bad, v)

	_, err = s.Load(bad)
	var cre *tokenstore.CorruptRecordError
	if !errors.As(err, &cre) || !errors.Is(err, tokenstore.ErrCorruptRecord) || cre.Revision != 1000 {
		t.Fatalf("Load of a damaged value = %v, want a CorruptRecordError at revision 1000", err)
	}
	if ContainsSecret(err.Error()) {
		t.Fatalf("the error shows a secret: %v", err)
	}
	if r, err := s.Load(good); err != nil || r.Revision != goodRev {
		t.Fatalf("a damaged record broke another: %v, %v", r, err)
	}
	if _, err := s.Save(bad, TestRecord(bad), 0); !errors.Is(err, tokenstore.ErrConflict) {
		t.Fatalf("creating over a damaged record = %v, want a conflict", err)
	}
	rev, err := s.Save(bad, TestRecord(bad), cre.Revision)
	if err != nil || rev <= 1000 {
		t.Fatalf("saving over the damaged revision = %d, %v", rev, err)
	}
	if r, err := s.Load(bad); err != nil || r.Revision != rev {
		t.Fatalf("after replacing: %v, %v", r, err)
	}
	// DeleteServer removes a damaged record too.
	worse := TestKey("worse")
	v, _ = keyring(t, keys).Seal(worse, TestRecord(worse), 2000)
	v[len(v)-1] ^= 1
	put(t, s, worse, v)
	if n, err := s.DeleteServer(worse.Namespace, worse.Name); err != nil || n != 1 {
		t.Fatalf("DeleteServer of a damaged record = %d, %v", n, err)
	}
	if _, err := s.Load(worse); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("after DeleteServer: %v", err)
	}
}

// foreignKeyRecord: a record sealed with a key not in the key file is reported, alone, and
// opens once that key is added.
func foreignKeyRecord(t *testing.T, f Fixture) {
	keys, foreign := KeyFile(t, 1), KeyFile(t, 1)
	s := f.Open(t, keys)
	k := TestKey("foreign")
	fk := keyring(t, foreign)
	v, err := fk.Seal(k, TestRecord(k), 7)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, k, v)
	_, err = s.Load(k)
	var cre *tokenstore.CorruptRecordError
	if !errors.As(err, &cre) || cre.KeyID != fk.ActiveKeyID() || !strings.Contains(cre.Reason, "not in the key file") {
		t.Fatalf("Load of a foreign record = %v", err)
	}
	s = f.Reopen(t, s, joinKeyFiles(t, keys, foreign))
	if r, err := s.Load(k); err != nil || r.Revision != 7 || r.RefreshToken != SecretRefresh {
		t.Fatalf("with the key added: %v, %v", r, err)
	}
}

// resealThenDropOldKey is a key rotation: a new first key, Reseal, then the old key removed.
func resealThenDropOldKey(t *testing.T, f Fixture) {
	oldKeys, newKeys := KeyFile(t, 1), KeyFile(t, 1)
	s := f.Open(t, oldKeys)
	revs := map[tokenstore.Key]uint64{}
	for i := range 3 {
		k := TestKey(fmt.Sprintf("r-%d", i))
		revs[k] = save(t, s, k, 0)
	}
	s = f.Reopen(t, s, joinKeyFiles(t, newKeys, oldKeys))
	if n, err := s.Reseal(); err != nil || n != 3 {
		t.Fatalf("Reseal = %d, %v; want 3", n, err)
	}
	if n, err := s.Reseal(); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want 0", n, err)
	}
	s = f.Reopen(t, s, newKeys)
	for k, rev := range revs {
		if r, err := s.Load(k); err != nil || r.Revision != rev {
			t.Fatalf("after dropping the old key, %s = %v, %v; want revision %d", k, r, err, rev)
		}
	}
}

// exportAndPutSealed: what one store exports, another takes byte for byte, once; a repeated
// copy changes nothing, and nothing older overwrites something newer.
func exportAndPutSealed(t *testing.T, f Fixture) {
	keys := KeyFile(t, 1)
	a, b := f.Open(t, keys), f.Open(t, keys)
	k1, k2 := TestKey("one"), TestKey("two")
	save(t, a, k1, save(t, a, k1, 0))
	save(t, a, k2, 0)
	exported := exportAll(t, a)
	if len(exported) != 2 {
		t.Fatalf("exported %d records, want 2", len(exported))
	}
	for _, rec := range exported {
		if bytes.Contains(rec.Value, []byte(SecretRefresh)) || bytes.Contains(rec.Value, []byte(SecretAccess)) {
			t.Fatalf("%s is stored in the clear", rec)
		}
		putAs(t, b, rec, tokenstore.PutCreated)
		putAs(t, b, rec, tokenstore.PutUnchanged)
		want, _ := a.Load(rec.Key)
		if got, err := b.Load(rec.Key); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("copied %s = %v, %v; want %v", rec, got, err, want)
		}
	}
	// b moves on; the older copy is refused, and copying back replaces a's older revision.
	cur, _ := b.Load(k1)
	newer := save(t, b, k1, cur.Revision)
	putAs(t, b, exported[indexOf(t, exported, k1)], tokenstore.PutKeptNewer)
	if r, _ := b.Load(k1); r.Revision != newer {
		t.Fatalf("an older copy replaced revision %d with %d", newer, r.Revision)
	}
	back := exportAll(t, b)
	putAs(t, a, back[indexOf(t, back, k1)], tokenstore.PutReplaced)
	putAs(t, a, back[indexOf(t, back, k2)], tokenstore.PutUnchanged)
	if r, err := a.Load(k1); err != nil || r.Revision != newer {
		t.Fatalf("copied back: %v, %v; want revision %d", r, err, newer)
	}
	if rev := save(t, a, k1, newer); rev <= newer {
		t.Fatalf("a save after a copy = %d, want > %d", rev, newer)
	}
	// A high revision copied in keeps later saves above it.
	k3 := TestKey("three")
	v, _ := keyring(t, keys).Seal(k3, TestRecord(k3), 1<<40)
	put(t, a, k3, v)
	if rev := save(t, a, k3, 1<<40); rev <= 1<<40 {
		t.Fatalf("a save after copying revision 2^40 = %d", rev)
	}
	// A value is never stored as a record it was not sealed for.
	wrong := exported[0]
	wrong.Revision++
	if _, err := b.PutSealed(wrong); !errors.Is(err, tokenstore.ErrCorruptRecord) {
		t.Fatalf("PutSealed with an edited revision = %v", err)
	}
	wrong = exported[0]
	wrong.Key = k3
	if _, err := b.PutSealed(wrong); err == nil {
		t.Fatal("PutSealed stored a value under another key")
	}
}

func exportAll(t *testing.T, s tokenstore.Backend) []tokenstore.Sealed {
	t.Helper()
	recs, err := s.ExportSealed()
	if err != nil {
		t.Fatalf("ExportSealed: %v", err)
	}
	return recs
}

func putAs(t *testing.T, s tokenstore.Backend, rec tokenstore.Sealed, want tokenstore.PutOutcome) {
	t.Helper()
	if got, err := s.PutSealed(rec); err != nil || got != want {
		t.Fatalf("PutSealed %s = %v, %v; want %v", rec, got, err, want)
	}
}

func indexOf(t *testing.T, recs []tokenstore.Sealed, k tokenstore.Key) int {
	t.Helper()
	for i, r := range recs {
		if r.Key == k {
			return i
		}
	}
	t.Fatalf("%s not exported", k)
	return -1
}

// noSecretInErrors: what the store says about a record (errors, a sealed record's name) never
// shows its secrets.
func noSecretInErrors(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	k := TestKey("talk")
	rev := save(t, s, k, 0)
	var msgs []string
	if _, err := s.Save(k, TestRecord(k), rev+1); err != nil {
		msgs = append(msgs, err.Error())
	}
	wrong := TestRecord(k)
	wrong.ServerURL = "https://elsewhere"
	if _, err := s.Save(k, wrong, rev); err != nil {
		msgs = append(msgs, err.Error())
	}
	for _, rec := range exportAll(t, s) {
		msgs = append(msgs, rec.String(), fmt.Sprintf("%v", rec.Key))
	}
	if len(msgs) < 3 {
		t.Fatalf("expected errors, got %q", msgs)
	}
	for _, m := range msgs {
		if ContainsSecret(m) {
			t.Errorf("shows a secret: %s", m)
		}
	}
}

func closed(t *testing.T, f Fixture) {
	s := f.Open(t, KeyFile(t, 1))
	k := TestKey("x")
	save(t, s, k, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Save(k, TestRecord(k), 0); !errors.Is(err, tokenstore.ErrClosed) {
		t.Errorf("Save after Close = %v", err)
	}
	if _, err := s.Load(k); !errors.Is(err, tokenstore.ErrClosed) {
		t.Errorf("Load after Close = %v", err)
	}
	if err := s.Delete(k); !errors.Is(err, tokenstore.ErrClosed) {
		t.Errorf("Delete after Close = %v", err)
	}
	if _, err := s.DeleteServer(k.Namespace, k.Name); !errors.Is(err, tokenstore.ErrClosed) {
		t.Errorf("DeleteServer after Close = %v", err)
	}
	if _, err := s.WaitNewer(context.Background(), k, 0); !errors.Is(err, tokenstore.ErrClosed) {
		t.Errorf("WaitNewer after Close = %v", err)
	}
}
