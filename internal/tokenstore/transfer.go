package tokenstore

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ExportSealed returns every record as stored, in storage-key order. A value whose header
// cannot be parsed, or whose binding does not match its storage key, is reported in the error
// and left out.
func (s *Store) ExportSealed() ([]Sealed, error) {
	var out []Sealed
	var bad []error
	err := s.view(func(tx *bolt.Tx) error {
		out, bad = nil, nil
		return tx.Bucket(tokensBucket).ForEach(func(k, v []byte) error {
			rec, err := ParseSealed(string(k), bytes.Clone(v))
			if err != nil {
				bad = append(bad, err)
				return nil
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("exporting tokens: %w", err)
	}
	return out, errors.Join(bad...)
}

// PutSealed stores a sealed record as it is, unless the same or a newer revision is stored
// (PutDecision). The store-wide revision counter is raised to the record's revision, so later
// saves still get revisions no record of this store ever had.
func (s *Store) PutSealed(rec Sealed) (PutOutcome, error) {
	sk, err := checkSealed(rec)
	if err != nil {
		return 0, err
	}
	var outcome PutOutcome
	var opErr error
	err = s.write(func(tx *bolt.Tx) error {
		outcome, opErr = 0, nil
		b := tx.Bucket(tokensBucket)
		var stored uint64
		if v := b.Get(sk); v != nil {
			h, _, _, err := decodeHeader(v)
			if err != nil {
				opErr = &CorruptRecordError{Key: rec.Key, Reason: "cannot parse stored value; delete it to replace it", Err: err}
				return nil
			}
			stored = h.revision
		}
		outcome = PutDecision(stored, rec.Revision)
		if outcome == PutUnchanged || outcome == PutKeptNewer {
			return nil
		}
		if rec.Revision > b.Sequence() {
			if err := b.SetSequence(rec.Revision); err != nil {
				return err
			}
		}
		return b.Put(sk, bytes.Clone(rec.Value))
	})
	if err != nil {
		return 0, fmt.Errorf("copying token %s: %w", rec.Key, err)
	}
	if opErr != nil {
		return 0, opErr
	}
	if outcome == PutCreated || outcome == PutReplaced {
		s.announced.announce(string(sk))
	}
	return outcome, nil
}
