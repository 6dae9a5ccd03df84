package tokenstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
)

// bbolt's on-disk meta page (go.etcd.io/bbolt/internal/common/meta.go), read
// here because bbolt memory-maps the file and faults (SIGBUS, which no
// recover catches) when a truncated file is shorter than its meta page says.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltPageHeader  = 16 // id uint64, flags uint16, count uint16, overflow uint32
	boltMetaSize    = 64 // magic, version, pageSize, flags, root{pgid, seq}, freelist, pgid, txid, checksum
	boltMetaSumSize = 56 // checksum covers every field before it
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// readBoltMeta reads and validates the meta page at off.
func readBoltMeta(f *os.File, off int64) (boltMeta, error) {
	buf := make([]byte, boltPageHeader+boltMetaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		return boltMeta{}, err
	}
	m := buf[boltPageHeader:]
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errors.New("bad magic")
	}
	if v := ne.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("unsupported bbolt version %d", v)
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSumSize])
	if h.Sum64() != ne.Uint64(m[boltMetaSumSize:]) {
		return boltMeta{}, errors.New("meta checksum mismatch")
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, nil
}

// precheckFile refuses a file bbolt would fault on: neither meta page valid,
// or shorter than the high-water mark of the meta bbolt would use. A missing
// or empty file is fine (bbolt initialises it).
func precheckFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening token store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening token store %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	corrupt := func(detail string) error {
		return fmt.Errorf("%w: %s: %s; the file was left untouched", ErrCorruptFile, path, detail)
	}
	m0, err0 := readBoltMeta(f, 0)
	pageSize := int64(os.Getpagesize())
	if err0 == nil {
		pageSize = int64(m0.pageSize)
	}
	m1, err1 := readBoltMeta(f, pageSize)
	var use boltMeta
	switch {
	case err0 != nil && err1 != nil:
		if errors.Is(err0, io.EOF) || errors.Is(err1, io.EOF) {
			return corrupt(fmt.Sprintf("only %d bytes: truncated, or not a token store", size))
		}
		return corrupt(fmt.Sprintf("not a valid bbolt database (meta 0: %v; meta 1: %v)", err0, err1))
	case err0 != nil:
		use = m1
	case err1 != nil:
		use = m0
	case m1.txid > m0.txid:
		use = m1
	default:
		use = m0
	}
	if use.pageSize < 1024 || use.pageSize&(use.pageSize-1) != 0 {
		return corrupt(fmt.Sprintf("implausible page size %d", use.pageSize))
	}
	if need := int64(use.pgid) * int64(use.pageSize); size < need {
		return corrupt(fmt.Sprintf("truncated: %d bytes, database needs %d", size, need))
	}
	return nil
}
