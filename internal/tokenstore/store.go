package tokenstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultOpenTimeout is how long Open waits for another process to release
// the file lock when Options.OpenTimeout is zero.
const DefaultOpenTimeout = 2 * time.Second

// Options configure Open.
type Options struct {
	// KeyFile is the encryption key file (--token-encryption-key-file). When
	// empty, path+".key" is used, and generated (mode 0600) if missing.
	KeyFile string
	// OpenTimeout bounds the wait for the file lock; zero means
	// DefaultOpenTimeout. Open never waits forever.
	OpenTimeout time.Duration
	// Logger receives start-up and warning messages; never secrets.
	Logger logr.Logger
	// NoSync skips fsync on commit. For tests and benchmarks only: a save
	// acknowledged without fsync can be lost in a crash.
	NoSync bool
}

// Store is the bbolt-backed token store. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	keys *keyring
	log  logr.Logger
	path string

	closeMu sync.RWMutex // held for reading by every operation, for writing by Close
	closed  bool
	ops     chan *writeOp
	done    chan struct{} // closed when the writer goroutine has exited

	announced announcer // wakes WaitNewer on each committed key
}

var (
	metaBucket   = []byte("meta")
	tokensBucket = []byte("tokens")
	schemaKey    = []byte("schema")
)

// Open opens or creates the store at path (mode 0600; the directory is
// created 0700 if missing). It returns an error wrapping ErrLocked when
// another process holds the file, ErrCorruptFile when the file is damaged,
// ErrKeyFile for a bad key file and ErrSchemaTooNew for a file from a newer
// binary. A refused file is never modified.
func Open(path string, opts Options) (*Store, error) {
	log := opts.Logger.WithValues("tokenStore", path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating token store directory: %w", err)
	}
	if err := precheckFile(path); err != nil {
		return nil, err
	}
	timeout := opts.OpenTimeout
	if timeout <= 0 {
		timeout = DefaultOpenTimeout
	}
	_, statErr := os.Stat(path)
	db, err := openBolt(path, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, fs.ErrNotExist) && !opts.NoSync {
		// bbolt fsyncs the file, not the directory entry naming it: without
		// this, a crash could lose a new store with its acknowledged saves.
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("syncing token store directory: %w", err)
		}
	}
	s := &Store{db: db, log: log, path: path, ops: make(chan *writeOp, 1024), done: make(chan struct{})}
	if err := s.init(opts); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// openBolt maps bbolt's errors to ours and turns a fault while reading a
// damaged file into ErrCorruptFile instead of a crash.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v; the file was left untouched", ErrCorruptFile, path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, o)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, o.Timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, fmt.Errorf("%w: %s: %w; the file was left untouched", ErrCorruptFile, path, err)
	default:
		return nil, fmt.Errorf("opening token store %s: %w", path, err)
	}
}

func (s *Store) init(opts Options) error {
	if fi, err := os.Stat(s.path); err == nil && fi.Mode().Perm() != 0o600 {
		if err := os.Chmod(s.path, 0o600); err != nil {
			return fmt.Errorf("restricting token store permissions: %w", err)
		}
		s.log.Info("Restricted token store file to mode 0600", "previousMode", fi.Mode().Perm().String())
	}
	if err := s.checkConsistency(); err != nil {
		return err
	}
	keys, generated, err := loadOrGenerateKeyFile(opts.KeyFile, s.path, s.log)
	if err != nil {
		return err
	}
	s.keys = keys
	var records int
	err = s.update(func(tx *bolt.Tx) error {
		if err := migrate(tx, s.log); err != nil {
			return err
		}
		records = tx.Bucket(tokensBucket).Stats().KeyN
		return nil
	})
	if err != nil {
		return err
	}
	if generated && records > 0 {
		s.log.Error(nil, "Generated a new token encryption key for a store that already holds records; they cannot be read until the original key file is restored",
			"records", records)
	}
	s.log.Info("Opened token store", "records", records, "schema", currentSchema, "keyID", keys.activeID)
	return nil
}

// checkConsistency runs bbolt's page-level check so that a damaged file is
// reported at start-up rather than as a fault on some later read.
func (s *Store) checkConsistency() error {
	var problems []string
	err := s.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err.Error())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s: %s; the file was left untouched", ErrCorruptFile, s.path, strings.Join(problems, "; "))
	}
	return nil
}

// Close waits for in-flight writes, then closes the file. It is safe to call
// more than once.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.closeMu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing token store: %w", err)
	}
	return nil
}

// view runs a read transaction, holding off Close and turning a panic or
// fault inside bbolt (a file damaged while open) into ErrCorruptFile.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return guard(s.path, func() error { return s.db.View(fn) })
}

// update runs a write transaction directly; only Open and the writer
// goroutine call it.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.Update(fn) })
}

func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorruptFile, path, r)
		}
	}()
	return fn()
}
