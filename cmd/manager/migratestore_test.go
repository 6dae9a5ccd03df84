package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/mcpproxy/mcpproxy-operator/internal/secretstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore/storetest"
)

// migrate runs migrate-store against envtest and returns its report and what it printed.
func migrate(t *testing.T, from, to, keyFile string) (migrateReport, string) {
	t.Helper()
	var out bytes.Buffer
	r, err := migrateStore(migrateOptions{from: from, to: to, keyFile: keyFile},
		func() (*rest.Config, error) { return testenv.Current().Config, nil }, &out)
	if err != nil {
		t.Fatalf("migrate-store --from %s --to %s: %v\n%s", from, to, err, out.String())
	}
	t.Logf("%s\n%s", out.String(), r)
	return r, out.String()
}

func openBolt(t *testing.T, path, keyFile string) *tokenstore.Store {
	t.Helper()
	s, err := tokenstore.Open(path, tokenstore.Options{KeyFile: keyFile, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openSecrets(t *testing.T, ns, keyFile string) *secretstore.Store {
	t.Helper()
	keys, err := tokenstore.LoadKeyring(keyFile, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	s, err := secretstore.NewForConfig(testenv.Current().Config, secretstore.Options{Namespace: ns, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameRecords fails unless a and b hold exactly keys, with equal records (revision included).
func sameRecords(t *testing.T, what string, a, b tokenstore.Backend, keys []tokenstore.Key) {
	t.Helper()
	for _, s := range []tokenstore.Backend{a, b} {
		all, err := s.ExportSealed()
		if err != nil || len(all) != len(keys) {
			t.Fatalf("%s: a store holds %d records (%v), want %d", what, len(all), err, len(keys))
		}
	}
	for _, k := range keys {
		ra, erra := a.Load(k)
		rb, errb := b.Load(k)
		if erra != nil || errb != nil || !reflect.DeepEqual(ra, rb) {
			t.Fatalf("%s: %s differs: %v (%v) and %v (%v)", what, k, ra, erra, rb, errb)
		}
	}
}

// migrate-store copies a bbolt store into Secrets and back, and nothing is lost: every record
// (servers and credentials, several bindings) compares equal, revision included; a repeated
// run changes nothing; a newer record at the destination is kept and reported; saves after a
// copy get revisions above the copied ones.
func TestMigrateStoreThereAndBack(t *testing.T) {
	dir := t.TempDir()
	boltPath, keyFile := filepath.Join(dir, "tokens.db"), storetest.KeyFile(t, 1)
	ns := testenv.NewNamespace(t, "migrate")
	var keys []tokenstore.Key
	b := openBolt(t, boltPath, keyFile)
	for i := range 12 {
		name := fmt.Sprintf("srv-%d", i%6)
		if i%3 == 0 {
			name += ":alice-credential" // a credential's record
		}
		k := storetest.TestKey(name)
		k.Binding.Resource = fmt.Sprintf("https://mcp.example.com/r%d", i)
		var rev uint64
		for range i%3 + 1 { // revisions of different ages
			r, err := b.Save(k, storetest.TestRecord(k), rev)
			if err != nil {
				t.Fatal(err)
			}
			rev = r
		}
		keys = append(keys, k)
	}
	_ = b.Close()

	r, _ := migrate(t, "bolt:"+boltPath, "secrets:"+ns, keyFile)
	if !r.complete() || r.outcomes[tokenstore.PutCreated] != len(keys) {
		t.Fatalf("bolt to secrets: %s", r)
	}
	b, s := openBolt(t, boltPath, keyFile), openSecrets(t, ns, keyFile)
	sameRecords(t, "bolt to secrets", b, s, keys)
	_ = b.Close()

	// Again: nothing to do.
	if r, _ = migrate(t, "bolt:"+boltPath, "secrets:"+ns, keyFile); !r.complete() || r.outcomes[tokenstore.PutUnchanged] != len(keys) {
		t.Fatalf("a repeated copy: %s", r)
	}

	// The manager runs on Secrets for a while: one record refreshed, then back to bbolt.
	cur, _ := s.Load(keys[0])
	refreshed, err := s.Save(keys[0], storetest.TestRecord(keys[0]), cur.Revision)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = migrate(t, "secrets:"+ns, "bolt:"+boltPath, keyFile)
	if !r.complete() || r.outcomes[tokenstore.PutReplaced] != 1 || r.outcomes[tokenstore.PutUnchanged] != len(keys)-1 {
		t.Fatalf("secrets back to bolt: %s", r)
	}
	b = openBolt(t, boltPath, keyFile)
	sameRecords(t, "secrets back to bolt", b, s, keys)
	if next, err := b.Save(keys[0], storetest.TestRecord(keys[0]), refreshed); err != nil || next <= refreshed {
		t.Fatalf("a bbolt save after the copy back = %d, %v; want above %d", next, err, refreshed)
	}
	_ = b.Close()

	// Secrets is now older than bbolt for keys[0]... and newer for keys[1]: copying bbolt
	// into Secrets updates the one and keeps the other, reporting it.
	cur, _ = s.Load(keys[1])
	newer, err := s.Save(keys[1], storetest.TestRecord(keys[1]), cur.Revision)
	if err != nil {
		t.Fatal(err)
	}
	r, out := migrate(t, "bolt:"+boltPath, "secrets:"+ns, keyFile)
	if r.complete() || r.outcomes[tokenstore.PutKeptNewer] != 1 || r.outcomes[tokenstore.PutReplaced] != 1 ||
		!strings.Contains(out, keys[1].String()) {
		t.Fatalf("a copy onto a newer record: %s\n%s", r, out)
	}
	if rec, _ := s.Load(keys[1]); rec.Revision != newer {
		t.Fatalf("the newer record was overwritten: revision %d, want %d", rec.Revision, newer)
	}
	if storetest.ContainsSecret(out + r.String()) {
		t.Fatal("migrate-store printed a secret")
	}

	// Into a new bbolt file.
	fresh := filepath.Join(dir, "copy.db")
	if r, _ = migrate(t, "secrets:"+ns, "bolt:"+fresh, keyFile); !r.complete() || r.outcomes[tokenstore.PutCreated] != len(keys) {
		t.Fatalf("secrets into a new file: %s", r)
	}
	b = openBolt(t, fresh, keyFile)
	defer b.Close()
	sameRecords(t, "secrets into a new file", b, s, keys)
	_ = s.Close()
}

func TestMigrateStoreRefusesBadArguments(t *testing.T) {
	keyFile := storetest.KeyFile(t, 1)
	missing := filepath.Join(t.TempDir(), "missing.db")
	for _, c := range []struct{ from, to, want string }{
		{"bolt:/x.db", "bolt:/x.db", "same store"},
		{"file:/x.db", "secrets:ns", "bolt:PATH or secrets:NAMESPACE"},
		{"bolt:" + missing, "secrets:ns", "no token store to copy"},
	} {
		_, err := migrateStore(migrateOptions{from: c.from, to: c.to, keyFile: keyFile},
			func() (*rest.Config, error) { return testenv.Current().Config, nil }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--from %s --to %s: %v, want %q", c.from, c.to, err, c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := migrateStoreMain([]string{"--from", "bolt:" + missing}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1 (%s)", code, stderr.String())
	}
}

// rotate-key works on a Secrets store too: a new key first, every record resealed with it (its
// revision kept), then --drop-old-keys leaves the new key alone, which opens every record.
func TestRotateKeyOnSecrets(t *testing.T) {
	ns, keyFile := testenv.NewNamespace(t, "rotate"), storetest.KeyFile(t, 1)
	s := openSecrets(t, ns, keyFile)
	revs := map[tokenstore.Key]uint64{}
	for i := range 3 {
		k := storetest.TestKey(fmt.Sprintf("r-%d", i))
		rev, err := s.Save(k, storetest.TestRecord(k), 0)
		if err != nil {
			t.Fatal(err)
		}
		revs[k] = rev
	}
	_ = s.Close()
	o := rotateKeyOptions{backend: "secrets", namespace: ns, keyFile: keyFile,
		config: func() (*rest.Config, error) { return testenv.Current().Config, nil }}
	for _, drop := range []bool{false, true} {
		o.dropOld = drop
		msg, err := rotateKey(o)
		if err != nil {
			t.Fatalf("rotate-key (drop=%t): %v", drop, err)
		}
		t.Log(msg)
	}
	s = openSecrets(t, ns, keyFile) // the key file now holds the new key alone
	defer s.Close()
	keys, _ := tokenstore.LoadKeyring(keyFile, logr.Discard())
	all, err := s.ExportSealed()
	if err != nil || len(all) != 3 {
		t.Fatalf("ExportSealed = %v, %v", all, err)
	}
	for _, rec := range all {
		if rec.KeyID != keys.ActiveKeyID() || rec.Revision != revs[rec.Key] {
			t.Errorf("%s: want key ID %s and revision %d", rec, keys.ActiveKeyID(), revs[rec.Key])
		}
		if _, err := s.Load(rec.Key); err != nil {
			t.Errorf("%s does not open with the new key: %v", rec.Key, err)
		}
	}
	if _, err := rotateKey(rotateKeyOptions{backend: "secrets", keyFile: keyFile}); err == nil {
		t.Error("rotate-key on Secrets without a namespace")
	}
}
