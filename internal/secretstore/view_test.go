package secretstore

import (
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func secretAt(name, sk string, rv uint64) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: strconv.FormatUint(rv, 10),
		Annotations: map[string]string{KeyAnnotation: sk}}, Data: map[string][]byte{DataKey: []byte("v" + strconv.FormatUint(rv, 10))}}
}

// The view merges informer events and the store's own writes by resourceVersion: nothing older
// replaces something newer, the event of the store's own write is not news, and a delete's
// tombstone hides the deleted object until the informer has caught up.
func TestViewMergesByResourceVersion(t *testing.T) {
	v := &view{entries: map[string]*entry{}}
	const name, sk = "mcpproxy-token-x", "ns/a/0123456789abcdef"
	present := func(wantRV uint64) {
		t.Helper()
		e := v.get(name)
		if wantRV == 0 {
			if e != nil && e.present {
				t.Fatalf("present at %d, want absent", e.rv)
			}
			return
		}
		if e == nil || !e.present || e.rv != wantRV || string(e.value) != "v"+strconv.FormatUint(wantRV, 10) {
			t.Fatalf("entry %+v, want present at %d", e, wantRV)
		}
	}
	announced := func(got []string, want bool) {
		t.Helper()
		if want != slices.Contains(got, sk) {
			t.Fatalf("announced %v, want announced=%t", got, want)
		}
	}

	announced(v.observe(secretAt(name, sk, 10), true), true) // the store's own write
	present(10)
	announced(v.observe(secretAt(name, sk, 10), true), false) // its informer event: not news
	announced(v.observe(secretAt(name, sk, 9), true), false)  // a late, older event
	present(10)
	announced(v.observe(secretAt(name, sk, 11), true), true) // another replica's save
	present(11)
	if v.currentFloor() < 11 {
		t.Fatalf("floor %d, want at least 11", v.currentFloor())
	}

	announced(v.forget(name, sk, 11), true) // the store deletes it
	present(0)
	announced(v.observe(secretAt(name, sk, 11), true), false) // a late event of the deleted object
	present(0)
	if v.tombstones != 1 || v.count() != 0 {
		t.Fatalf("%d tombstones, %d records", v.tombstones, v.count())
	}
	announced(v.observe(secretAt(name, sk, 12), false), false) // the informer's delete: already announced
	if v.get(name) != nil || v.tombstones != 0 {
		t.Fatalf("the tombstone outlived the delete event: %+v, %d", v.get(name), v.tombstones)
	}

	announced(v.observe(secretAt(name, sk, 15), true), true) // created again
	present(15)
	// A stale final state (DeletedFinalStateUnknown of an older object) deletes nothing newer.
	announced(v.observe(secretAt(name, sk, 13), false), false)
	present(15)
	announced(v.observe(secretAt(name, sk, 16), false), true)
	present(0)
}

func TestViewPrunesOldTombstones(t *testing.T) {
	v := &view{entries: map[string]*entry{}}
	for i := range tombstoneLimit {
		v.forget("old-"+strconv.Itoa(i), "", 1)
	}
	for _, e := range v.entries {
		e.since = time.Now().Add(-2 * tombstoneAge)
	}
	v.forget("new", "", 1)
	if v.tombstones != 1 || len(v.entries) != 1 || v.get("new") == nil {
		t.Fatalf("%d tombstones in %d entries after pruning, want the new one", v.tombstones, len(v.entries))
	}
}
