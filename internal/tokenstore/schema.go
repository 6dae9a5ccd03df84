package tokenstore

import (
	"encoding/binary"
	"fmt"

	"github.com/go-logr/logr"
	bolt "go.etcd.io/bbolt"
)

// currentSchema is the layout this binary writes. Bump it together with a
// migration from the previous version.
var currentSchema uint64 = 1

// migration rewrites a store from one schema version to the next inside the
// start-up transaction; an error aborts Open and leaves the file unchanged.
type migration func(tx *bolt.Tx, log logr.Logger) error

// migrations maps a schema version to the step that upgrades it by one.
var migrations = map[uint64]migration{}

// migrate creates the buckets of a new store, or upgrades an older one step
// by step, recording the schema version in the meta bucket.
func migrate(tx *bolt.Tx, log logr.Logger) error {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		if tx.Bucket(tokensBucket) != nil {
			return fmt.Errorf("%w: tokens present but metadata bucket missing; the file was left untouched", ErrCorruptFile)
		}
		return createSchema(tx)
	}
	v := meta.Get(schemaKey)
	if len(v) != 8 {
		return fmt.Errorf("%w: malformed schema version; the file was left untouched", ErrCorruptFile)
	}
	version := binary.BigEndian.Uint64(v)
	if version > currentSchema {
		return fmt.Errorf("%w: file has schema %d, this binary supports up to %d", ErrSchemaTooNew, version, currentSchema)
	}
	for ; version < currentSchema; version++ {
		step, ok := migrations[version]
		if !ok {
			return fmt.Errorf("no migration from token store schema %d", version)
		}
		if err := step(tx, log); err != nil {
			return fmt.Errorf("migrating token store schema %d to %d: %w", version, version+1, err)
		}
		log.Info("Migrated token store schema", "from", version, "to", version+1)
	}
	if tx.Bucket(tokensBucket) == nil {
		return fmt.Errorf("%w: tokens bucket missing; the file was left untouched", ErrCorruptFile)
	}
	return putSchema(meta, currentSchema)
}

func createSchema(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(metaBucket)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket(tokensBucket); err != nil {
		return err
	}
	return putSchema(meta, currentSchema)
}

func putSchema(meta *bolt.Bucket, v uint64) error {
	if cur := meta.Get(schemaKey); len(cur) == 8 && binary.BigEndian.Uint64(cur) == v {
		return nil // unchanged: keep the start-up transaction free of writes
	}
	return meta.Put(schemaKey, binary.BigEndian.AppendUint64(nil, v))
}
