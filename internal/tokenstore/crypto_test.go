package tokenstore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func writeKeyFile(t *testing.T, path string, keys ...[]byte) {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) []byte {
	k := make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// rawValue reads a stored value straight from the bbolt file.
func rawValue(t *testing.T, path string, k Key) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sk, _ := k.storageKey()
	var v []byte
	_ = db.View(func(tx *bolt.Tx) error { v = bytes.Clone(tx.Bucket(tokensBucket).Get(sk)); return nil })
	return v
}

// editValue rewrites a stored value in place with bbolt, as a bad disk or
// a buggy tool might.
func editValue(t *testing.T, path string, k Key, edit func(v []byte) []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sk, _ := k.storageKey()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(tokensBucket)
		return b.Put(sk, edit(bytes.Clone(b.Get(sk))))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	path, keyFile := filepath.Join(dir, "tokens.db"), filepath.Join(dir, "key")
	oldKey, newKeyBytes := newKey(t), newKey(t)
	writeKeyFile(t, keyFile, oldKey)

	s := openTest(t, path, Options{KeyFile: keyFile})
	kOld, kNew := testKey("old"), testKey("new")
	revOld, err := s.Save(kOld, testRecord(kOld), 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	// Rotate: new key first, old key kept for reading.
	writeKeyFile(t, keyFile, newKeyBytes, oldKey)
	s = openTest(t, path, Options{KeyFile: keyFile})
	if r, err := s.Load(kOld); err != nil || r.AccessToken != secretAccess {
		t.Fatalf("old value after rotation: %v", err)
	}
	if _, err := s.Save(kNew, testRecord(kNew), 0); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if h, _, _, _ := decodeHeader(rawValue(t, path, kNew)); h.keyID != keyID(newKeyBytes) {
		t.Errorf("new value sealed with %s, want new key %s", h.keyID, keyID(newKeyBytes))
	}
	if h, _, _, _ := decodeHeader(rawValue(t, path, kOld)); h.keyID != keyID(oldKey) {
		t.Errorf("old value key ID %s, want %s", h.keyID, keyID(oldKey))
	}

	// Old key dropped: the old record fails alone, with a clear error.
	writeKeyFile(t, keyFile, newKeyBytes)
	s = openTest(t, path, Options{KeyFile: keyFile})
	_, err = s.Load(kOld)
	var cre *CorruptRecordError
	if !errors.As(err, &cre) || !errors.Is(err, ErrCorruptRecord) || cre.KeyID != keyID(oldKey) || cre.Revision != revOld {
		t.Fatalf("Load with old key gone = %v", err)
	}
	if !strings.Contains(err.Error(), "not in the key file") {
		t.Errorf("error does not say why: %v", err)
	}
	if _, err := s.Load(kNew); err != nil {
		t.Fatalf("other record affected: %v", err)
	}
	if st := s.status(kOld, time.Now()); !st.Present || st.Valid || !errors.Is(st.Err, ErrCorruptRecord) {
		t.Errorf("Status of undecryptable record = %+v", st)
	}
	// After a new login the controller replaces it using the reported revision.
	if _, err := s.Save(kOld, testRecord(kOld), cre.Revision); err != nil {
		t.Fatalf("replacing undecryptable record: %v", err)
	}
}

func TestWrongKeyIsPerRecordError(t *testing.T) {
	dir := t.TempDir()
	path, keyFile := filepath.Join(dir, "tokens.db"), filepath.Join(dir, "key")
	writeKeyFile(t, keyFile, newKey(t))
	s := openTest(t, path, Options{KeyFile: keyFile})
	k := testKey("a")
	if _, err := s.Save(k, testRecord(k), 0); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	writeKeyFile(t, keyFile, newKey(t))
	s = openTest(t, path, Options{KeyFile: keyFile})
	_, err := s.Load(k)
	if !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("Load with wrong key = %v", err)
	}
	if containsSecret(err.Error()) {
		t.Fatalf("error leaks a secret: %v", err)
	}
	// The store keeps working for new records.
	k2 := testKey("b")
	if _, err := s.Save(k2, testRecord(k2), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(k2); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedValuesArePerRecord(t *testing.T) {
	cases := map[string]func(v []byte) []byte{
		"flipped ciphertext byte": func(v []byte) []byte { v[len(v)-5] ^= 0x40; return v },
		"truncated value":         func(v []byte) []byte { return v[:len(v)/2] },
		"garbage header":          func(v []byte) []byte { return []byte{0xff, 1, 2} },
		"edited revision":         func(v []byte) []byte { v[1]++; return v },
		"empty value":             func(v []byte) []byte { return []byte{} },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			s, path := newTestStore(t)
			bad, good := testKey("bad"), testKey("good")
			for _, k := range []Key{bad, good} {
				if _, err := s.Save(k, testRecord(k), 0); err != nil {
					t.Fatal(err)
				}
			}
			_ = s.Close()
			editValue(t, path, bad, edit)
			s = openTest(t, path, Options{})
			_, err := s.Load(bad)
			var cre *CorruptRecordError
			if !errors.As(err, &cre) {
				t.Fatalf("Load = %v, want *CorruptRecordError", err)
			}
			if containsSecret(err.Error()) {
				t.Fatalf("error leaks a secret: %v", err)
			}
			if _, err := s.Load(good); err != nil {
				t.Fatalf("healthy record affected: %v", err)
			}
			// Nothing is silently replaced: a create must not overwrite it.
			if _, err := s.Save(bad, testRecord(bad), 0); err == nil {
				t.Fatal("Save with expectRevision 0 overwrote a damaged record")
			}
			// Explicit delete, then create, works.
			if err := s.Delete(bad); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(bad, testRecord(bad), 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValueMovedToAnotherKeyFails(t *testing.T) {
	s, path := newTestStore(t)
	a := testKey("a")
	b := Key{Namespace: a.Namespace, Name: "b", Binding: a.Binding}
	if _, err := s.Save(a, testRecord(a), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(b, &Record{AccessToken: "b"}, 0); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	va := rawValue(t, path, a)
	editValue(t, path, b, func([]byte) []byte { return va })
	s = openTest(t, path, Options{})
	if _, err := s.Load(b); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("Load of a value copied from another key = %v", err)
	}
}

func TestGeneratedKeyFileAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	path := filepath.Join(dir, "tokens.db")
	var tl testLogger
	s := openTest(t, path, Options{Logger: tl.logr()})
	k := testKey("a")
	if _, err := s.Save(k, testRecord(k), 0); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	for p, want := range map[string]os.FileMode{path: 0o600, path + ".key": 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %v, want %v", p, got, want)
		}
	}
	logs := strings.Join(tl.lines, "\n")
	if !strings.Contains(logs, "Generated token encryption key file") || !strings.Contains(logs, path+".key") {
		t.Errorf("no log line about the generated key file:\n%s", logs)
	}
	keyData, _ := os.ReadFile(path + ".key")
	if bytes.Contains([]byte(logs), bytes.TrimSpace(keyData[bytes.LastIndexByte(keyData[:len(keyData)-1], '\n')+1:])) {
		t.Error("log contains the key")
	}
	// Reopen reuses the generated key, without another "Generated" line.
	tl.lines = nil
	s = openTest(t, path, Options{Logger: tl.logr()})
	if _, err := s.Load(k); err != nil {
		t.Fatalf("Load after reopen with generated key: %v", err)
	}
	if strings.Contains(strings.Join(tl.lines, "\n"), "Generated token encryption key") {
		t.Error("key generated again on reopen")
	}
	_ = s.Close()

	// A loosened database file is tightened back on open.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, Options{})
	_ = s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after reopen %v", fi.Mode().Perm())
	}
}

func TestLostGeneratedKeyIsReported(t *testing.T) {
	s, path := newTestStore(t)
	k := testKey("a")
	if _, err := s.Save(k, testRecord(k), 0); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if err := os.Remove(path + ".key"); err != nil {
		t.Fatal(err)
	}
	var tl testLogger
	s = openTest(t, path, Options{Logger: tl.logr()})
	if !strings.Contains(strings.Join(tl.lines, "\n"), "already holds records") {
		t.Errorf("no warning about records sealed with a lost key:\n%s", strings.Join(tl.lines, "\n"))
	}
	if _, err := s.Load(k); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("Load = %v", err)
	}
}

func TestParseKeyFile(t *testing.T) {
	k := bytes.Repeat([]byte{0x42}, keySize)
	k2 := bytes.Repeat([]byte{0x17}, keySize)
	good := map[string][]byte{
		"raw":        k,
		"base64":     []byte(base64.StdEncoding.EncodeToString(k) + "\n"),
		"base64url":  []byte(base64.RawURLEncoding.EncodeToString(k)),
		"hex":        []byte(hex.EncodeToString(k) + "\r\n"),
		"comments":   []byte("# key\n\n  " + base64.StdEncoding.EncodeToString(k) + "  \n# old\n" + hex.EncodeToString(k2) + "\n"),
		"two copies": []byte(base64.StdEncoding.EncodeToString(k) + "\n"),
	}
	for name, data := range good {
		kr, err := parseKeyFile(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if kr.activeID != keyID(k) {
			t.Errorf("%s: active key %s, want %s", name, kr.activeID, keyID(k))
		}
	}
	bad := map[string]string{
		"empty":     "",
		"comments":  "# nothing\n",
		"short":     base64.StdEncoding.EncodeToString(k[:16]),
		"not a key": "hunter2-this-is-my-password",
		"duplicate": hex.EncodeToString(k) + "\n" + base64.StdEncoding.EncodeToString(k),
	}
	for name, data := range bad {
		_, err := parseKeyFile([]byte(data))
		if !errors.Is(err, ErrKeyFile) {
			t.Errorf("%s: %v, want ErrKeyFile", name, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error quotes the file: %v", name, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "db"), Options{KeyFile: "/nonexistent/key"}); !errors.Is(err, ErrKeyFile) {
		t.Errorf("missing key file: %v", err)
	}
}

func TestResealThenDropOldKey(t *testing.T) {
	dir := t.TempDir()
	path, keyFile := filepath.Join(dir, "tokens.db"), filepath.Join(dir, "key")
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	writeKeyFile(t, keyFile, k1)
	s := openTest(t, path, Options{KeyFile: keyFile})
	a, b, lost := testKey("a"), testKey("b"), testKey("lost")
	revA, _ := s.Save(a, testRecord(a), 0)
	_, _ = s.Save(b, testRecord(b), 0)
	_ = s.Close()

	// One record sealed with a key nobody has any more.
	writeKeyFile(t, keyFile, k3)
	s = openTest(t, path, Options{KeyFile: keyFile})
	if _, err := s.Save(lost, testRecord(lost), 0); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	writeKeyFile(t, keyFile, k2, k1)
	s = openTest(t, path, Options{KeyFile: keyFile})
	n, err := s.Reseal()
	if n != 2 || !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), "team-a/lost") {
		t.Fatalf("Reseal = %d, %v; want 2 and an error for the lost record", n, err)
	}
	if !strings.Contains(err.Error(), lost.String()) {
		t.Errorf("Reseal error does not name %s: %v", lost, err)
	}
	if n, err := s.Reseal(); n != 0 || !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("second Reseal = %d, %v", n, err)
	}
	_ = s.Close()

	writeKeyFile(t, keyFile, k2)
	s = openTest(t, path, Options{KeyFile: keyFile})
	r, err := s.Load(a)
	if err != nil || r.Revision != revA || r.RefreshToken != secretRefresh {
		t.Fatalf("Load after reseal and dropping the old key = %v, %v", r, err)
	}
	if _, err := s.Load(b); err != nil {
		t.Fatal(err)
	}
}
