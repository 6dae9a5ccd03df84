package tokenstore

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Test for them with errors.Is; the typed errors below match
// the sentinel of their kind.
var (
	// ErrNotFound means no record is stored under the key.
	ErrNotFound = errors.New("token not found")
	// ErrConflict means a compare-and-swap save lost: the stored revision is
	// not the one the caller expected. The error is a *ConflictError.
	ErrConflict = errors.New("token revision conflict")
	// ErrCorruptRecord means one record cannot be decoded or decrypted. Only
	// that record is affected. The error is a *CorruptRecordError.
	ErrCorruptRecord = errors.New("token record is corrupt or cannot be decrypted")
	// ErrCorruptFile means the database file itself is damaged; Open refuses
	// it and leaves it untouched for a person to inspect.
	ErrCorruptFile = errors.New("token store file is corrupt")
	// ErrLocked means another process holds the database open.
	ErrLocked = errors.New("token store is locked by another process")
	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("token store is closed")
	// ErrInvalidKey means a Key cannot address a record (empty or containing
	// '/' or NUL in the namespace or name).
	ErrInvalidKey = errors.New("invalid token store key")
	// ErrBindingMismatch means a record names a server URL, issuer, client ID
	// or resource that differs from the binding of the key it is saved under.
	ErrBindingMismatch = errors.New("token record does not match the key's binding")
	// ErrKeyFile means the encryption key file is missing, unreadable or
	// malformed. Messages never contain key material.
	ErrKeyFile = errors.New("invalid token encryption key file")
	// ErrSchemaTooNew means the file was written by a newer schema than this
	// binary understands; it is left untouched.
	ErrSchemaTooNew = errors.New("token store schema is newer than this binary supports")
)

// ConflictError reports a lost compare-and-swap. It matches ErrConflict.
type ConflictError struct {
	// Key is the record the save was aimed at.
	Key Key
	// Expected is the revision the caller named (0 = must not exist).
	Expected uint64
	// Current is the revision stored now (0 = absent).
	Current uint64
}

// Error describes the conflict without any record contents.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v: %s expected revision %d, stored revision is %d",
		ErrConflict, e.Key, e.Expected, e.Current)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// CorruptRecordError reports one unreadable record. It matches
// ErrCorruptRecord and unwraps to its cause. It never carries record contents.
type CorruptRecordError struct {
	// Key is the record that could not be read.
	Key Key
	// Revision is the stored revision when the envelope header was readable,
	// else 0. Saving with this revision replaces the record.
	Revision uint64
	// KeyID is the ID of the encryption key that sealed the record, when the
	// envelope header was readable.
	KeyID string
	// Reason says what went wrong, e.g. "sealed with a key not in the key file".
	Reason string
	// Err is the underlying error, if any.
	Err error

	// storedKey names the record when Key.Binding is unknown (the header
	// could not be parsed), so the message shows the real binding hash.
	storedKey string
}

// Error describes the problem; it contains no secret.
func (e *CorruptRecordError) Error() string {
	name := e.Key.String()
	if i := strings.LastIndexByte(e.storedKey, keySep); i >= 0 {
		name = e.storedKey[:i] + "@" + e.storedKey[i+1:]
	}
	msg := fmt.Sprintf("%v: %s: %s", ErrCorruptRecord, name, e.Reason)
	if e.KeyID != "" {
		msg += fmt.Sprintf(" (key ID %s)", e.KeyID)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is ErrCorruptRecord.
func (e *CorruptRecordError) Is(target error) bool { return target == ErrCorruptRecord }

// Unwrap returns the underlying cause.
func (e *CorruptRecordError) Unwrap() error { return e.Err }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
