package tokenstore

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Load returns the record stored under k. It returns an error wrapping
// ErrNotFound when there is none, and a *CorruptRecordError (matching
// ErrCorruptRecord) when this one record cannot be read; other records are
// unaffected.
func (s *Store) Load(k Key) (*Record, error) {
	sk, err := k.storageKey()
	if err != nil {
		return nil, err
	}
	var v []byte
	err = s.view(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(tokensBucket).Get(sk))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading token %s: %w", k, err)
	}
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, k)
	}
	return s.keys.open(k, sk, v)
}

// Save stores r under k if the stored revision is still expectRevision (0:
// no record may exist), and returns the record's new revision once it is
// durable. Revisions come from one store-wide counter, so they increase
// across records and are never reused, even after a delete.
//
// A lost race returns a *ConflictError (matching ErrConflict) carrying the
// current revision. A record whose stored value cannot even be parsed
// returns a *CorruptRecordError: Delete it first to replace it. r is not
// modified; r.Revision is ignored.
func (s *Store) Save(k Key, r *Record, expectRevision uint64) (uint64, error) {
	sk, err := k.storageKey()
	if err != nil {
		return 0, err
	}
	if r == nil {
		return 0, fmt.Errorf("saving token %s: nil record", k)
	}
	if err := checkRecordBinding(k, r); err != nil {
		return 0, err
	}
	plain, err := encodePayload(r)
	if err != nil {
		return 0, fmt.Errorf("saving token %s: %w", k, err)
	}
	defer clear(plain)
	var rev uint64
	var opErr error
	err = s.write(func(tx *bolt.Tx) error {
		rev, opErr = 0, nil
		b := tx.Bucket(tokensBucket)
		var cur uint64
		if v := b.Get(sk); v != nil {
			h, _, _, err := decodeHeader(v)
			if err != nil {
				opErr = &CorruptRecordError{Key: k, Reason: "cannot parse stored value; delete it to replace it", Err: err}
				return nil
			}
			cur = h.revision
		}
		if cur != expectRevision {
			opErr = &ConflictError{Key: k, Expected: expectRevision, Current: cur}
			return nil
		}
		next, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := s.keys.seal(sk, k.Binding, next, plain)
		if err != nil {
			return err
		}
		if err := b.Put(sk, v); err != nil {
			return err
		}
		rev = next
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("saving token %s: %w", k, err)
	}
	if opErr != nil {
		return 0, opErr
	}
	s.announced.announce(string(sk))
	return rev, nil
}

// Delete removes the record under k; it is not an error if there is none.
func (s *Store) Delete(k Key) error {
	sk, err := k.storageKey()
	if err != nil {
		return err
	}
	err = s.write(func(tx *bolt.Tx) error { return tx.Bucket(tokensBucket).Delete(sk) })
	if err != nil {
		return fmt.Errorf("deleting token %s: %w", k, err)
	}
	s.announced.announce(string(sk))
	return nil
}

// DeleteServer removes every binding of namespace/name and returns how many
// records it removed. Servers whose names merely share a prefix ("a" and
// "a-b") are untouched.
func (s *Store) DeleteServer(namespace, name string) (int, error) {
	if err := validateServer(namespace, name); err != nil {
		return 0, err
	}
	prefix := serverPrefix(namespace, name)
	var doomed [][]byte
	err := s.write(func(tx *bolt.Tx) error {
		doomed = doomed[:0]
		b := tx.Bucket(tokensBucket)
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if _, ok := hashFromStorageKey(prefix, k); ok {
				doomed = append(doomed, bytes.Clone(k))
			}
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("deleting tokens of %s/%s: %w", namespace, name, err)
	}
	for _, k := range doomed {
		s.announced.announce(string(k))
	}
	return len(doomed), nil
}

// status reports whether a usable token exists under k, without returning
// secrets. Valid means an access token is present and expires after now, or
// its expiry is unknown. An unreadable record is Present with Err set.
func (s *Store) status(k Key, now time.Time) tokenState {
	r, err := s.Load(k)
	if err != nil {
		var cre *CorruptRecordError
		if errors.As(err, &cre) {
			return tokenState{Present: true, Revision: cre.Revision, Err: err}
		}
		if isNotFound(err) {
			return tokenState{}
		}
		return tokenState{Err: err}
	}
	return tokenState{
		Present:         true,
		Valid:           r.AccessToken != "" && (r.Expiry.IsZero() || r.Expiry.After(now)),
		HasRefreshToken: r.RefreshToken != "",
		Expiry:          r.Expiry,
		Revision:        r.Revision,
	}
}

// storedBinding describes one record of a server without decrypting it.
type storedBinding struct {
	// Key addresses the record; its Binding is read from the record's
	// authenticated-on-load header.
	Key Key
	// Hash is the binding hash in the storage key.
	Hash string
	// Revision of the record.
	Revision uint64
	// KeyID of the encryption key that sealed it.
	KeyID string
	// Err is set when the record's header cannot be parsed; Key.Binding is
	// then empty and only DeleteServer removes it.
	Err error
}

// listServer lists every binding stored for namespace/name, for example to
// find records left behind by a URL change.
func (s *Store) listServer(namespace, name string) ([]storedBinding, error) {
	if err := validateServer(namespace, name); err != nil {
		return nil, err
	}
	prefix := serverPrefix(namespace, name)
	var out []storedBinding
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(tokensBucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			hash, ok := hashFromStorageKey(prefix, k)
			if !ok {
				continue
			}
			sb := storedBinding{Key: Key{Namespace: namespace, Name: name}, Hash: hash}
			if h, _, _, err := decodeHeader(v); err != nil {
				sb.Err = &CorruptRecordError{Key: sb.Key, Reason: "cannot parse stored value", Err: err, storedKey: string(k)}
			} else {
				sb.Key.Binding, sb.Revision, sb.KeyID = h.binding, h.revision, h.keyID
			}
			out = append(out, sb)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing tokens of %s/%s: %w", namespace, name, err)
	}
	return out, nil
}
