package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/secretstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// rotateKeyCommand is the subcommand that rotates the token store's encryption key.
const rotateKeyCommand = "rotate-key"

// rotateKeyOptions are rotate-key's flags.
type rotateKeyOptions struct {
	store, keyFile string
	openTimeout    time.Duration
	// dropOld removes every key but the first, after checking nothing needs them any more.
	dropOld bool
	// backend is app.StoreBackendBolt (store) or app.StoreBackendSecrets (namespace, reached
	// with config).
	backend, namespace string
	config             func() (*rest.Config, error)
}

// rotateKeyMain parses rotate-key's flags and runs it; it returns the exit code.
func rotateKeyMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("manager "+rotateKeyCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o rotateKeyOptions
	fs.StringVar(&o.store, "token-store", "mcpproxy-tokens.db", "Path of the bbolt token store.")
	fs.StringVar(&o.keyFile, "token-encryption-key-file", "", "The store's key file (default: the token store path + \".key\").")
	fs.DurationVar(&o.openTimeout, "token-store-open-timeout", 5*time.Second, "How long to wait for the store's file lock (the manager must be stopped).")
	fs.BoolVar(&o.dropOld, "drop-old-keys", false, "Instead of adding a key: reseal with the first key, then remove every other key from the file.")
	fs.StringVar(&o.backend, "token-store-backend", app.StoreBackendBolt, "The store's backend: bolt (--token-store) or secrets (--token-store-namespace; --token-encryption-key-file is then required).")
	fs.StringVar(&o.namespace, "token-store-namespace", "", "Namespace of the token Secrets, for --token-store-backend=secrets.")
	kubeconfig := fs.String("kubeconfig", "", "Kubeconfig for a secrets store (default: $KUBECONFIG, ~/.kube/config, or the pod's ServiceAccount).")
	o.config = func() (*rest.Config, error) { return kubeConfig(*kubeconfig) }
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: manager %s [flags]\n\n"+
			"Adds a new AES-256 key first in the key file (old keys stay, so old records still open),\n"+
			"reseals every record with it, and with --drop-old-keys later removes the old keys.\n"+
			"Run it while the manager is stopped: it needs a bbolt store's file lock, and a manager\n"+
			"running on Secrets would not open records sealed with a key it did not start with.\n\n", rotateKeyCommand)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	msg, err := rotateKey(o)
	if err != nil {
		fmt.Fprintln(stderr, "rotate-key:", err)
		return 1
	}
	fmt.Fprintln(stdout, msg)
	return 0
}

// rotateKey adds a key (or, with dropOld, drops the old ones) and reseals the store. It
// never leaves the key file unable to open a record: a new key is written before any record
// is sealed with it, and an old key is removed only after a reseal proved nothing needs it.
func rotateKey(o rotateKeyOptions) (string, error) {
	switch o.backend {
	case "", app.StoreBackendBolt:
		if o.keyFile == "" {
			o.keyFile = o.store + ".key"
		}
		if _, err := os.Stat(o.store); err != nil {
			return "", fmt.Errorf("no token store to rotate: %w", err)
		}
	case app.StoreBackendSecrets:
		if o.keyFile == "" || o.namespace == "" {
			return "", errors.New("a secrets store needs --token-encryption-key-file and --token-store-namespace")
		}
	default:
		return "", fmt.Errorf("unknown --token-store-backend %q", o.backend)
	}
	old, err := os.ReadFile(o.keyFile)
	if err != nil {
		return "", fmt.Errorf("reading the key file: %w", err)
	}
	keys, err := keyLines(old)
	if err != nil {
		return "", err
	}
	// Reseal with the current file first: it proves the file opens the store and that no
	// manager holds the lock, before the key file is touched.
	n, err := reseal(o, o.keyFile)
	if errors.Is(err, tokenstore.ErrCorruptRecord) {
		return "", fmt.Errorf("nothing changed: some records open with no key in %s (add their key, or delete them): %w", o.keyFile, err)
	}
	if err != nil {
		return "", err
	}
	if o.dropOld {
		return dropOldKeys(o, old, keys, n)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generating a key: %w", err)
	}
	keys = append([]string{base64.StdEncoding.EncodeToString(key)}, keys...)
	if err := writeKeyFile(o.keyFile, keys); err != nil {
		return "", err
	}
	if n, err = reseal(o, o.keyFile); err != nil {
		return "", fmt.Errorf("the new key is first in %s, but resealing failed (run rotate-key --drop-old-keys to finish once fixed): %w", o.keyFile, err)
	}
	return fmt.Sprintf("Added a new key first in %s (%d keys); resealed %d records with it. "+
		"Back up the key file, then run `manager %s --drop-old-keys` to remove the old keys.",
		o.keyFile, len(keys), n, rotateKeyCommand), nil
}

// dropOldKeys keeps only the first key, then checks that the store still opens every record
// with it; if not, the old key file is put back.
func dropOldKeys(o rotateKeyOptions, old []byte, keys []string, resealed int) (string, error) {
	if len(keys) == 1 {
		return fmt.Sprintf("%s holds one key; nothing to drop (resealed %d records).", o.keyFile, resealed), nil
	}
	if err := writeKeyFile(o.keyFile, keys[:1]); err != nil {
		return "", err
	}
	// A record the first key cannot open would fail this reseal: restore the old keys then.
	if _, err := reseal(o, o.keyFile); err != nil {
		if rerr := writeFileAtomic(o.keyFile, old); rerr != nil {
			return "", fmt.Errorf("records need a dropped key (%w), and restoring the key file failed: %w", err, rerr)
		}
		return "", fmt.Errorf("records still need an old key, the key file was restored: %w", err)
	}
	return fmt.Sprintf("Dropped %d old keys from %s; every record is sealed with the remaining key (resealed %d).",
		len(keys)-1, o.keyFile, resealed), nil
}

// reseal opens the store with keyFile and reseals every record not sealed with its first key.
func reseal(o rotateKeyOptions, keyFile string) (int, error) {
	s, err := openToReseal(o, keyFile)
	if err != nil {
		return 0, err
	}
	n, err := s.Reseal()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// keyLines returns the keys of a key file as text lines, first (sealing) key first. A raw
// 32-byte file (tokenstore accepts one) becomes one base64 line; comments are not kept.
func keyLines(data []byte) ([]string, error) {
	if len(data) == 32 && bytes.IndexByte(data, '\n') < 0 {
		return []string{base64.StdEncoding.EncodeToString(data)}, nil
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" && !strings.HasPrefix(s, "#") {
			keys = append(keys, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("the key file holds no key")
	}
	return keys, nil
}

// writeKeyFile replaces the key file with keys, one per line, under an explanatory header.
func writeKeyFile(path string, keys []string) error {
	var b strings.Builder
	b.WriteString("# mcpproxy-operator token store encryption keys (AES-256, base64), rotated " +
		time.Now().UTC().Format(time.RFC3339) + ".\n" +
		"# The first key seals new values; every listed key opens old ones.\n")
	for _, k := range keys {
		b.WriteString(k + "\n")
	}
	return writeFileAtomic(path, []byte(b.String()))
}

// writeFileAtomic writes data (mode 0600) to a temporary file beside path, syncs it and
// renames it over path, then syncs the directory: a crash leaves the old or the new file,
// never half of one, and never a store sealed with a key that is not on disk.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the key file: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing the key file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

func openToReseal(o rotateKeyOptions, keyFile string) (tokenstore.Backend, error) {
	if o.backend == app.StoreBackendSecrets {
		keys, err := tokenstore.LoadKeyring(keyFile, logr.Discard())
		if err != nil {
			return nil, err
		}
		cfg, err := o.config()
		if err != nil {
			return nil, fmt.Errorf("loading the kubeconfig: %w", err)
		}
		return secretstore.NewForConfig(cfg, secretstore.Options{Namespace: o.namespace, Keys: keys})
	}
	s, err := tokenstore.Open(o.store, tokenstore.Options{KeyFile: keyFile, OpenTimeout: o.openTimeout})
	if errors.Is(err, tokenstore.ErrLocked) {
		return nil, fmt.Errorf("%w: stop the manager first", err)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}
