package secretstore

import (
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// view is what Load reads: each token Secret's latest known state, from the informer and from
// this store's own writes and API reads, merged by resourceVersion so that nothing older
// replaces something newer.
type view struct {
	mu         sync.Mutex
	entries    map[string]*entry // by Secret name
	tombstones int
	// floor is the highest resourceVersion or revision seen: no revision handed out is below it.
	floor uint64
}

// entry is one Secret's state.
type entry struct {
	rv      uint64 // resourceVersion (of the deleted object, for a tombstone)
	rvs     string // the resourceVersion as the API server wrote it, to update with
	present bool   // false: a tombstone left by this store's own delete
	sk      string // storage key (KeyAnnotation)
	value   []byte // sealed value; shared with the informer's object, never modified
	since   time.Time
}

// tombstoneLimit is how many tombstones may pile up before old ones are dropped; tombstoneAge
// is how old one must be to go. A tombstone stops a late informer event of an object this
// store deleted from bringing it back; the informer's delete event removes it, so only deletes
// the informer never saw (created and deleted between two lists) leave one behind.
const (
	tombstoneLimit = 1024
	tombstoneAge   = 10 * time.Minute
)

// rvOf parses a resourceVersion; 0 when it is not a well-formed integer (then merges fall back
// to arrival order).
func rvOf(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func (v *view) get(name string) *entry {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.entries[name]
}

func (v *view) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.entries) - v.tombstones
}

func (v *view) raise(n uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.raiseLocked(n)
}

func (v *view) raiseLocked(n uint64) {
	if n > v.floor {
		v.floor = n
	}
}

func (v *view) currentFloor() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.floor
}

// observe merges a Secret's state (present, or deleted) and returns the storage keys whose
// record changed, to announce.
func (v *view) observe(sec *corev1.Secret, present bool) []string {
	rv := rvOf(sec.ResourceVersion)
	sk := sec.Annotations[KeyAnnotation]
	v.mu.Lock()
	defer v.mu.Unlock()
	v.raiseLocked(rv)
	if h, err := tokenstore.ParseSealed(sk, sec.Data[DataKey]); err == nil {
		v.raiseLocked(h.Revision)
	}
	cur := v.entries[sec.Name]
	if cur != nil && rv != 0 && cur.rv != 0 && (rv < cur.rv || present && rv == cur.rv) {
		return nil // older than what is known, or the event of this store's own write
	}
	if cur != nil && !cur.present {
		v.tombstones--
	}
	if !present {
		if cur == nil {
			return nil
		}
		delete(v.entries, sec.Name)
		if !cur.present {
			return nil // the tombstone of this store's delete: already announced
		}
		return changedKeys(cur.sk, "")
	}
	v.entries[sec.Name] = &entry{rv: rv, rvs: sec.ResourceVersion, present: true, sk: sk, value: sec.Data[DataKey]}
	if cur == nil || !cur.present {
		return changedKeys(sk, "")
	}
	return changedKeys(sk, cur.sk)
}

// forget records this store's delete of the Secret name, which held storage key sk at
// resourceVersion rv: Load no longer finds it, and an informer event of that version or older
// does not bring it back.
func (v *view) forget(name, sk string, rv uint64) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.entries[name]
	if cur != nil && cur.rv > rv {
		return nil // a newer object than the one deleted is known already
	}
	if cur == nil || cur.present {
		v.tombstones++
	}
	v.entries[name] = &entry{rv: rv, sk: sk, since: time.Now()}
	if v.tombstones > tombstoneLimit {
		v.pruneLocked(time.Now().Add(-tombstoneAge))
	}
	return changedKeys(sk, "")
}

func (v *view) pruneLocked(before time.Time) {
	for name, e := range v.entries {
		if !e.present && e.since.Before(before) {
			delete(v.entries, name)
			v.tombstones--
		}
	}
}

func changedKeys(a, b string) []string {
	switch {
	case a == "" && b == "":
		return nil
	case b == "" || a == b:
		return []string{a}
	case a == "":
		return []string{b}
	}
	return []string{a, b}
}
