package tokenstore

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Reseal re-encrypts every record sealed with a key other than the active
// (first) key in the key file, keeping contents and revisions, so that old
// keys can then be removed from the file. It returns how many records it
// resealed. Records that cannot be opened are left as they are and reported
// in the error (one *CorruptRecordError each, joined); the others are still
// resealed.
func (s *Store) Reseal() (int, error) {
	var n int
	var bad []error
	err := s.write(func(tx *bolt.Tx) error {
		n, bad = 0, nil
		b := tx.Bucket(tokensBucket)
		type item struct{ k, v []byte }
		var stale []item
		err := b.ForEach(func(k, v []byte) error {
			if h, _, _, err := decodeHeader(v); err != nil || h.keyID != s.keys.activeID {
				stale = append(stale, item{bytes.Clone(k), bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range stale {
			key := keyFromStorageKey(it.k)
			h, _, _, err := decodeHeader(it.v)
			if err == nil {
				key.Binding = h.binding
			}
			r, err := s.keys.open(key, it.k, it.v)
			if err != nil {
				var cre *CorruptRecordError
				if errors.As(err, &cre) {
					cre.storedKey = string(it.k)
				}
				bad = append(bad, err)
				continue
			}
			plain, err := encodePayload(r)
			if err != nil {
				return err
			}
			v, err := s.keys.seal(it.k, key.Binding, r.Revision, plain)
			clear(plain)
			if err != nil {
				return err
			}
			if err := b.Put(it.k, v); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("resealing tokens: %w", err)
	}
	if n > 0 {
		s.log.Info("Resealed token records with the active encryption key", "records", n, "keyID", s.keys.activeID)
	}
	return n, errors.Join(bad...)
}

// keyFromStorageKey recovers namespace and name (not the binding) from a
// storage key, for error messages.
func keyFromStorageKey(sk []byte) Key {
	parts := bytes.SplitN(sk, []byte{keySep}, 3)
	if len(parts) != 3 {
		return Key{Name: string(sk)}
	}
	return Key{Namespace: string(parts[0]), Name: string(parts[1])}
}
