package tokenstore

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
)

// keySize is the AES-256 key length.
const keySize = 32

// keyIDDomain separates key IDs from any other use of sha256.
const keyIDDomain = "mcpproxy-tokenstore/key-id/v1"

// keyring holds the sealing key (first in the file) and every key that may
// still open older records.
type keyring struct {
	activeID string
	aeads    map[string]cipher.AEAD
}

// keyID derives a short public identifier from a key, so rotating keys needs
// no naming scheme: the ID is stored with every value it sealed.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte(keyIDDomain), key...))
	return hex.EncodeToString(sum[:4])
}

// parseKeyFile accepts either exactly 32 raw bytes (no newline), or text with one key per
// line, base64 (standard or URL alphabet) or hex, blank lines and '#'
// comments ignored. The first key seals new values; the others only open old
// ones. Errors name line numbers, never key material.
func parseKeyFile(data []byte) (*keyring, error) {
	var keys [][]byte
	// 32 bytes without a newline cannot be a text key (base64 of 32 bytes
	// is 43-44 characters, hex 64), so it is a raw key.
	if len(data) == keySize && bytes.IndexByte(data, '\n') < 0 {
		keys = append(keys, bytes.Clone(data))
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			if s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			k, ok := decodeKey(s)
			if !ok {
				return nil, fmt.Errorf("%w: line %d is not a 32-byte key in base64 or hex", ErrKeyFile, line)
			}
			keys = append(keys, k)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key in file", ErrKeyFile)
	}
	kr := &keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, k := range keys {
		id := keyID(k)
		if _, dup := kr.aeads[id]; dup {
			return nil, fmt.Errorf("%w: key %d repeats key ID %s", ErrKeyFile, i+1, id)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
		}
		kr.aeads[id] = aead
		if i == 0 {
			kr.activeID = id
		}
	}
	return kr, nil
}

func decodeKey(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == keySize {
			return k, true
		}
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == keySize {
		return k, true
	}
	return nil, false
}

// loadOrGenerateKeyFile reads the key file. With no path configured it uses
// dbPath+".key", generating it (mode 0600) if it does not exist yet; it
// reports whether it generated one.
func loadOrGenerateKeyFile(path, dbPath string, log logr.Logger) (*keyring, bool, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, false, fmt.Errorf("%w: reading %s: %w", ErrKeyFile, path, err)
		}
		warnLoosePermissions(path, log)
		kr, err := parseKeyFile(data)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return kr, false, nil
	}
	path = dbPath + ".key"
	data, err := os.ReadFile(path)
	if err == nil {
		warnLoosePermissions(path, log)
		kr, err := parseKeyFile(data)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return kr, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%w: reading %s: %w", ErrKeyFile, path, err)
	}
	data, err = generateKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	kr, err := parseKeyFile(data)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	log.Info("Generated token encryption key file; back it up with the token store, and pass it with --token-encryption-key-file to choose your own",
		"keyFile", path, "keyID", kr.activeID)
	return kr, true, nil
}

// generateKeyFile writes a fresh random key with O_EXCL and mode 0600, and
// makes it durable (file and directory fsync) before any value is sealed
// with it.
func generateKeyFile(path string) ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating token encryption key: %w", err)
	}
	data := []byte("# mcpproxy-operator token store encryption key (AES-256, base64).\n" +
		"# To rotate: put a new key on the first line and keep old keys below it;\n" +
		"# the first key seals new values, every listed key opens old ones.\n" +
		base64.StdEncoding.EncodeToString(key) + "\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: creating %s: %w", ErrKeyFile, path, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = syncDir(filepath.Dir(path))
	}
	if werr != nil {
		_ = os.Remove(path) // half-written and never used: nothing sealed with it yet
		return nil, fmt.Errorf("%w: writing %s: %w", ErrKeyFile, path, werr)
	}
	return data, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func warnLoosePermissions(path string, log logr.Logger) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Info("Found token encryption key file readable by group or others; restrict it to mode 0600 (or defaultMode 0400 for a Secret volume)",
			"keyFile", path, "mode", fi.Mode().Perm().String())
	}
}
