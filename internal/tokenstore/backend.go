package tokenstore

import (
	"context"
	"fmt"
)

// Backend is a token store as the manager uses it. Two implement it: Store (bbolt, the
// embedded default for one replica and local runs) and internal/secretstore (one Kubernetes
// Secret per record, in the manager's namespace). Both seal every value with the same key file
// into the same bytes (see Keyring), keep the guarantees of this package's documentation, and
// pass the same contract tests (internal/tokenstore/storetest).
type Backend interface {
	// Load returns the record under k, ErrNotFound, or a *CorruptRecordError for this record.
	Load(k Key) (*Record, error)
	// Save stores r under k if the stored revision is still expectRevision (0: none may
	// exist) and returns the new revision, or a *ConflictError carrying the current one.
	Save(k Key, r *Record, expectRevision uint64) (uint64, error)
	// Delete removes the record under k; it is not an error if there is none.
	Delete(k Key) error
	// DeleteServer removes every binding of namespace/name and says how many it removed.
	DeleteServer(namespace, name string) (int, error)
	// WaitNewer returns the record under k once its revision is not rev, woken by the write
	// itself (on any replica, for a shared backend), never by polling.
	WaitNewer(ctx context.Context, k Key, rev uint64) (*Record, error)
	// Reseal re-encrypts the records sealed with an older key, keeping their revisions.
	Reseal() (int, error)
	// ExportSealed returns every record as stored (sealed), for copying to another backend.
	// Records whose value cannot even be parsed are reported in the error (one
	// *CorruptRecordError each, joined) and left out; the others are still returned.
	ExportSealed() ([]Sealed, error)
	// PutSealed stores a record exported from another backend, bytes as they are, unless this
	// store already holds the same or a newer revision of it.
	PutSealed(s Sealed) (PutOutcome, error)
	// Close releases the store once the writes in flight are done; calling it twice is safe.
	Close() error
}

var _ Backend = (*Store)(nil)

// Sealed is one record as it is at rest: the sealed value and what its clear, authenticated
// header says. The value opens only under Key's storage key, so it can be copied between
// backends byte for byte.
type Sealed struct {
	// Key is the server (from the storage key) and the binding (from the header).
	Key Key
	// Revision is the stored revision (from the header).
	Revision uint64
	// KeyID names the encryption key that sealed the value.
	KeyID string
	// Value is the envelope: header, nonce and AES-GCM ciphertext. It holds no clear secret.
	Value []byte
}

// String names the record without its value.
func (s Sealed) String() string {
	return fmt.Sprintf("%s revision %d (key ID %s)", s.Key, s.Revision, s.KeyID)
}

// PutOutcome says what PutSealed did.
type PutOutcome int

const (
	// PutCreated means the record was absent and is now stored.
	PutCreated PutOutcome = iota + 1
	// PutReplaced means an older revision was replaced.
	PutReplaced
	// PutUnchanged means the same revision was already stored (a repeated copy).
	PutUnchanged
	// PutKeptNewer means a newer revision is stored and was kept: nothing older overwrites
	// something newer.
	PutKeptNewer
)

// String is the outcome in a word, for counts.
func (o PutOutcome) String() string {
	switch o {
	case PutCreated:
		return "created"
	case PutReplaced:
		return "replaced"
	case PutUnchanged:
		return "unchanged"
	case PutKeptNewer:
		return "kept newer"
	}
	return fmt.Sprintf("PutOutcome(%d)", int(o))
}

// PutDecision is PutSealed's rule, shared by both backends: stored is the revision held now
// (0: none).
func PutDecision(stored, incoming uint64) PutOutcome {
	switch {
	case stored == 0:
		return PutCreated
	case stored == incoming:
		return PutUnchanged
	case stored > incoming:
		return PutKeptNewer
	}
	return PutReplaced
}
