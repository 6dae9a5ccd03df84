package tokenstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	bolt "go.etcd.io/bbolt"
)

// populatedFile returns a closed store file holding n records, with its key file.
func populatedFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := openTest(t, path, Options{NoSync: true})
	for i := range n {
		k := testKey(fmt.Sprintf("srv-%d", i))
		if _, err := s.Save(k, testRecord(k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// expectCorruptFile opens path, expects ErrCorruptFile and checks the file
// was not modified.
func expectCorruptFile(t *testing.T, path string) {
	t.Helper()
	before := fileSum(t, path)
	s, err := Open(path, Options{OpenTimeout: time.Second})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded on a damaged file")
	}
	if !errors.Is(err, ErrCorruptFile) {
		t.Fatalf("Open = %v, want ErrCorruptFile", err)
	}
	t.Logf("Open: %v", err)
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
	if fileSum(t, path) != before {
		t.Fatal("Open modified a damaged file")
	}
}

// highWaterMark is the size bbolt's current meta page says the file needs;
// files are usually longer (preallocated).
func highWaterMark(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	_ = db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

func TestTruncatedFile(t *testing.T) {
	path := populatedFile(t, 300)
	hwm := highWaterMark(t, path)
	page := int64(os.Getpagesize())
	for _, size := range []int64{1, 100, page + 10, 2 * page, hwm / 2, hwm - page, hwm - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tokens.db")
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(p, data[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			expectCorruptFile(t, p)
		})
	}
}

func TestTruncatedPreallocationIsHarmless(t *testing.T) {
	path := populatedFile(t, 300)
	if err := os.Truncate(path, highWaterMark(t, path)); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, path, Options{})
	for i := range 300 {
		if _, err := s.Load(testKey(fmt.Sprintf("srv-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCorruptedFile(t *testing.T) {
	page := os.Getpagesize()
	cases := map[string]func(data []byte){
		"both meta pages zeroed": func(d []byte) { clear(d[:2*page]) },
		"both meta checksums":    func(d []byte) { d[16+60] ^= 1; d[page+16+60] ^= 1 },
		"garbage":                func(d []byte) { copy(d, bytes.Repeat([]byte("garbage!"), len(d)/8)) },
		"data pages overwritten": func(d []byte) { copy(d[2*page:], bytes.Repeat([]byte{0xab}, len(d)-2*page)) },
		"data pages zeroed":      func(d []byte) { clear(d[2*page:]) },
	}
	// Leave the freelist alone so that the damage is found by the page
	// check, not while bbolt loads the freelist.
	cases["leaf and branch pages overwritten"] = func(d []byte) {
		m0, m1 := d[16:], d[page+16:]
		ne := binary.NativeEndian
		m := m0
		if ne.Uint64(m1[48:]) > ne.Uint64(m0[48:]) {
			m = m1
		}
		free, hwm := int(ne.Uint64(m[32:])), int(ne.Uint64(m[40:]))
		for p := 2; p < hwm; p++ {
			if p != free {
				copy(d[p*page:(p+1)*page], bytes.Repeat([]byte{0xab}, page))
			}
		}
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := populatedFile(t, 300)
			data, _ := os.ReadFile(path)
			damage(data)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			expectCorruptFile(t, path)
		})
	}
}

func TestNotABoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	if err := os.WriteFile(path, []byte("{\"tokens\": {}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expectCorruptFile(t, path)
}

func TestEmptyFileIsInitialised(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, path, Options{})
	k := testKey("a")
	if _, err := s.Save(k, testRecord(k), 0); err != nil {
		t.Fatal(err)
	}
}

func setSchema(t *testing.T, path string, v uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).Put(schemaKey, binary.BigEndian.AppendUint64(nil, v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := populatedFile(t, 1)
	setSchema(t, path, currentSchema+1)
	before := fileSum(t, path)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if fileSum(t, path) != before {
		t.Fatal("Open modified a file with a newer schema")
	}
}

func TestMigrationHook(t *testing.T) {
	path := populatedFile(t, 3)
	oldSchema := currentSchema
	t.Cleanup(func() { currentSchema = oldSchema; delete(migrations, oldSchema) })

	// A failing migration aborts Open and leaves the file as it was.
	currentSchema = oldSchema + 1
	migrations[oldSchema] = func(*bolt.Tx, logr.Logger) error { return errors.New("boom") }
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Open with failing migration = %v", err)
	}

	var seen int
	migrations[oldSchema] = func(tx *bolt.Tx, _ logr.Logger) error {
		seen = tx.Bucket(tokensBucket).Stats().KeyN
		return tx.Bucket(metaBucket).Put([]byte("migrated"), []byte("yes"))
	}
	s := openTest(t, path, Options{})
	if seen != 3 {
		t.Fatalf("migration saw %d records, want 3", seen)
	}
	if _, err := s.Load(testKey("srv-0")); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(metaBucket)
		if got := binary.BigEndian.Uint64(m.Get(schemaKey)); got != currentSchema || string(m.Get([]byte("migrated"))) != "yes" {
			t.Errorf("after migration: schema %d, marker %q", got, m.Get([]byte("migrated")))
		}
		return nil
	})
}
