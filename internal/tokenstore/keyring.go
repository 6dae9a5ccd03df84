package tokenstore

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
)

// Keyring seals and opens record values exactly as Store does, for another backend: the same
// key file, the same envelope (revision, key ID and binding in the clear header; storage key
// and header as the AEAD's additional data; the payload encrypted). A value sealed by one
// backend therefore opens in the other, and copying a store is copying bytes.
type Keyring struct{ kr *keyring }

// LoadKeyring reads a key file (one base64 or hex key per line, the first seals; see the
// package documentation). Unlike Open it never generates one: a store shared by several
// replicas needs the key they all mount. Errors match ErrKeyFile and hold no key material.
func LoadKeyring(path string, log logr.Logger) (*Keyring, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no key file given (--token-encryption-key-file)", ErrKeyFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrKeyFile, path, err)
	}
	warnLoosePermissions(path, log)
	kr, err := parseKeyFile(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Keyring{kr: kr}, nil
}

// ActiveKeyID is the ID of the key that seals new values.
func (k *Keyring) ActiveKeyID() string { return k.kr.activeID }

// Seal checks that key can address a record and that r does not contradict its binding, and
// returns r sealed as revision rev (r.Revision is ignored).
func (k *Keyring) Seal(key Key, r *Record, rev uint64) ([]byte, error) {
	sk, err := key.storageKey()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("saving token %s: nil record", key)
	}
	if err := checkRecordBinding(key, r); err != nil {
		return nil, err
	}
	plain, err := encodePayload(r)
	if err != nil {
		return nil, fmt.Errorf("saving token %s: %w", key, err)
	}
	defer clear(plain)
	v, err := k.kr.seal(sk, key.Binding, rev, plain)
	if err != nil {
		return nil, fmt.Errorf("saving token %s: %w", key, err)
	}
	return v, nil
}

// Open decrypts a value stored under key. Every failure is a *CorruptRecordError that says
// why without quoting the value.
func (k *Keyring) Open(key Key, v []byte) (*Record, error) {
	sk, err := key.storageKey()
	if err != nil {
		return nil, err
	}
	return k.kr.open(key, sk, v)
}

// Reseal returns v sealed again with the active key, keeping its revision and contents; it
// returns v itself, and false, when the active key sealed it already.
func (k *Keyring) Reseal(s Sealed) ([]byte, bool, error) {
	if s.KeyID == k.kr.activeID {
		return s.Value, false, nil
	}
	r, err := k.Open(s.Key, s.Value)
	if err != nil {
		return nil, false, err
	}
	v, err := k.Seal(s.Key, r, r.Revision)
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// StorageKey is the key a record is stored under: "namespace/name/bindinghash". It fails with
// ErrInvalidKey when the namespace or name is empty or holds '/' or NUL.
func (k Key) StorageKey() (string, error) {
	sk, err := k.storageKey()
	return string(sk), err
}

// ServerPrefix is the storage-key prefix of every binding of namespace/name ("namespace/name/").
func ServerPrefix(namespace, name string) (string, error) {
	if err := validateServer(namespace, name); err != nil {
		return "", err
	}
	return string(serverPrefix(namespace, name)), nil
}

// ParseSealed reads a stored value's clear header, without decrypting it, and checks it
// belongs under storageKey: the storage key must be well formed and the header's binding must
// hash to the storage key's binding hash. A value that fails is a *CorruptRecordError naming
// the storage key.
func ParseSealed(storageKey string, v []byte) (Sealed, error) {
	parts := strings.Split(storageKey, string(rune(keySep)))
	if len(parts) != 3 || validateServer(parts[0], parts[1]) != nil || len(parts[2]) != bindingHashLen {
		return Sealed{}, &CorruptRecordError{Key: Key{Name: storageKey}, Reason: "malformed storage key", storedKey: storageKey}
	}
	key := Key{Namespace: parts[0], Name: parts[1]}
	h, _, _, err := decodeHeader(v)
	if err != nil {
		return Sealed{Key: key}, &CorruptRecordError{Key: key, Reason: "cannot parse stored value", Err: err, storedKey: storageKey}
	}
	key.Binding = h.binding
	if h.binding.Hash() != parts[2] {
		return Sealed{Key: key}, &CorruptRecordError{Key: key, Revision: h.revision, KeyID: h.keyID,
			Reason: "stored binding does not match its storage key", storedKey: storageKey}
	}
	return Sealed{Key: key, Revision: h.revision, KeyID: h.keyID, Value: v}, nil
}

// errNotSealedFor is returned by checkSealed for a value that does not belong to its Sealed.
var errNotSealedFor = errors.New("value's header differs from the record it is copied as")

// CheckSealed verifies that s.Value's header says what s says, so PutSealed never stores a
// value under a key it was not sealed for, and returns the storage key to store it under.
func CheckSealed(s Sealed) (string, error) {
	sk, err := checkSealed(s)
	return string(sk), err
}

func checkSealed(s Sealed) ([]byte, error) {
	sk, err := s.Key.storageKey()
	if err != nil {
		return nil, err
	}
	got, err := ParseSealed(string(sk), s.Value)
	if err != nil {
		return nil, err
	}
	if got.Revision != s.Revision || got.KeyID != s.KeyID || got.Key != s.Key || s.Revision == 0 {
		return nil, &CorruptRecordError{Key: s.Key, Revision: got.Revision, KeyID: got.KeyID, Reason: "cannot copy", Err: errNotSealedFor}
	}
	return sk, nil
}
