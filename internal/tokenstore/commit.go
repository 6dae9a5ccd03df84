package tokenstore

import (
	bolt "go.etcd.io/bbolt"
)

// maxBatch caps how many writes share one transaction.
const maxBatch = 256

// writeOp is one write waiting for the writer goroutine. apply runs inside a
// write transaction, possibly more than once (a batch that fails is retried
// op by op), so it must reset its own outcome each time. It returns an error
// only for failures that must abort the transaction; outcomes that belong to
// this op alone (a CAS conflict, a corrupt record) it records itself and
// returns nil, so they never cost the rest of the batch a retry.
type writeOp struct {
	apply func(*bolt.Tx) error
	err   error
	done  chan struct{}
}

// write queues fn and returns once its transaction has committed (and been
// fsynced, unless Options.NoSync) or failed.
//
// The store batches writes itself instead of using bbolt's DB.Batch: Batch
// waits MaxBatchDelay (10ms) before committing a lone write, which would cap
// a serial caller at about 100 saves a second. Here a single writer
// goroutine commits whatever is queued at once; writes that arrive while an
// fsync is in progress form the next batch, so concurrent saves share
// fsyncs and a lone save waits for nothing but its own.
func (s *Store) write(fn func(*bolt.Tx) error) error {
	op := &writeOp{apply: fn, done: make(chan struct{})}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.ops <- op
	s.closeMu.RUnlock()
	<-op.done
	return op.err
}

// writer is the only goroutine that writes after Open; it exits when Close
// closes s.ops.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*writeOp, 0, maxBatch)
	for op := range s.ops {
		batch = append(batch[:0], op)
	drain:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-s.ops:
				if !ok {
					break drain
				}
				batch = append(batch, op)
			default:
				break drain
			}
		}
		s.commit(batch)
		clear(batch) // let finished ops be collected
	}
}

func (s *Store) commit(batch []*writeOp) {
	err := s.update(func(tx *bolt.Tx) error {
		for _, op := range batch {
			if err := op.apply(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		// One op (or the commit) failed: give every op its own transaction
		// so that one bad write fails alone.
		for _, op := range batch {
			op.err = s.update(op.apply)
			close(op.done)
		}
		return
	}
	for _, op := range batch {
		op.err = err
		close(op.done)
	}
}
