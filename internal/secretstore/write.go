package secretstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// maxAttempts bounds the retries of one write whose object moved while its revision did not
// (a reseal, a label edit).
const maxAttempts = 5

// state is a record's Secret as one write sees it.
type state struct {
	present  bool
	rv       string // resourceVersion to update with
	revision uint64 // from the sealed header; 0 when absent
	// corrupt is set when the stored value cannot be parsed (or belongs to another key):
	// such a record is replaced only after DeleteServer or Delete.
	corrupt error
	// listRV is the resourceVersion of a consistent read made for this write (0 from the view).
	listRV uint64
}

// current reads the record's state from the view, or with fresh from the API server (a
// consistent list of that one Secret, which also says how far the cluster's resourceVersion
// has come). A fresh read is merged into the view.
func (s *Store) current(ctx context.Context, k tokenstore.Key, name, sk string, fresh bool) (state, error) {
	if !fresh {
		e := s.view.get(name)
		if e == nil || !e.present {
			return state{}, nil
		}
		return stateOf(k, sk, e.sk, e.value, e.rvs), nil
	}
	list, err := s.secrets.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name + ",type=" + string(SecretType)})
	if err != nil {
		return state{}, fmt.Errorf("reading Secret %s/%s: %w", s.ns, name, err)
	}
	listRV := rvOf(list.ResourceVersion)
	s.view.raise(listRV)
	if len(list.Items) == 0 {
		if e := s.view.get(name); e != nil && e.present {
			// Deleted behind the view's back: hide it until the informer says more.
			s.announce(s.view.forget(name, e.sk, e.rv))
		}
		return state{listRV: listRV}, nil
	}
	sec := &list.Items[0]
	s.announce(s.view.observe(sec, true))
	st := stateOf(k, sk, sec.Annotations[KeyAnnotation], sec.Data[DataKey], sec.ResourceVersion)
	st.listRV = listRV
	return st, nil
}

func stateOf(k tokenstore.Key, sk, storedSK string, value []byte, rv string) state {
	st := state{present: true, rv: rv}
	if storedSK != sk {
		st.corrupt = &tokenstore.CorruptRecordError{Key: k, Reason: "its Secret names another storage key (hash collision or tampering); delete it to replace it"}
		return st
	}
	h, err := tokenstore.ParseSealed(sk, value)
	if err != nil {
		var cre *tokenstore.CorruptRecordError
		if errors.As(err, &cre) {
			cre.Reason += "; delete it to replace it"
		}
		st.corrupt = err
		return st
	}
	st.revision = h.Revision
	return st
}

// nextRevision is max(current + 1, floor + 1): see the package documentation.
func (s *Store) nextRevision(st state) uint64 {
	floor := max(s.view.currentFloor(), rvOf(st.rv), st.listRV)
	return max(st.revision, floor) + 1
}

// secret is the Secret holding value for storage key sk.
func (s *Store) secret(name, sk string, value []byte) *corev1.Secret {
	prefix := sk[:strings.LastIndexByte(sk, '/')+1] // sk is a valid storage key: namespace/name/hash
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: s.ns,
			Labels:      map[string]string{ServerLabel: ServerLabelValue(prefix)},
			Annotations: map[string]string{KeyAnnotation: sk},
		},
		Type: SecretType,
		Data: map[string][]byte{DataKey: value},
	}
}

// put creates the Secret (st absent) or updates it at st's resourceVersion, and merges the
// result into the view. A lost race is reported as errRace.
func (s *Store) put(ctx context.Context, name, sk string, value []byte, st state) error {
	sec := s.secret(name, sk, value)
	var out *corev1.Secret
	var err error
	if st.present {
		sec.ResourceVersion = st.rv
		out, err = s.secrets.Update(ctx, sec, metav1.UpdateOptions{})
	} else {
		out, err = s.secrets.Create(ctx, sec, metav1.CreateOptions{})
	}
	switch {
	case err == nil:
		s.announce(s.view.observe(out, true))
		return nil
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err), st.present && apierrors.IsNotFound(err):
		return errRace
	}
	return err
}

var errRace = errors.New("the Secret changed while it was written")

// Save stores r under k if the stored revision is still expectRevision (0: none may exist).
// The swap is the API server's (resourceVersion); see the package documentation.
func (s *Store) Save(k tokenstore.Key, r *tokenstore.Record, expectRevision uint64) (uint64, error) {
	sk, err := k.StorageKey()
	if err != nil {
		return 0, err
	}
	if err := s.enter(); err != nil {
		return 0, fmt.Errorf("saving token %s: %w", k, err)
	}
	defer s.leave()
	name := SecretName(sk)
	ctx, cancel := s.request()
	defer cancel()
	st, err := s.current(ctx, k, name, sk, false)
	fresh := false
	for attempt := 1; ; attempt++ {
		if err != nil {
			return 0, fmt.Errorf("saving token %s: %w", k, err)
		}
		if st.corrupt != nil {
			return 0, st.corrupt
		}
		// A creation needs a consistent read (its floor), and a revision that differs in the
		// view may only be the view lagging: ask the API server before answering.
		if !fresh && (!st.present || st.revision != expectRevision) {
			fresh = true
			st, err = s.current(ctx, k, name, sk, true)
			continue
		}
		if st.revision != expectRevision {
			return 0, &tokenstore.ConflictError{Key: k, Expected: expectRevision, Current: st.revision}
		}
		if attempt > maxAttempts {
			return 0, fmt.Errorf("saving token %s: Secret %s/%s kept changing (or a Secret of another type has its name)", k, s.ns, name)
		}
		rev := s.nextRevision(st)
		v, err := s.keys.Seal(k, r, rev)
		if err != nil {
			return 0, err
		}
		err = s.put(ctx, name, sk, v, st)
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, errRace) {
			return 0, fmt.Errorf("saving token %s: %w", k, err)
		}
		fresh = true
		st, err = s.current(ctx, k, name, sk, true)
	}
}

// Delete removes the record under k; it is not an error if there is none.
func (s *Store) Delete(k tokenstore.Key) error {
	sk, err := k.StorageKey()
	if err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return fmt.Errorf("deleting token %s: %w", k, err)
	}
	defer s.leave()
	ctx, cancel := s.request()
	defer cancel()
	if _, err := s.deleteSecret(ctx, SecretName(sk), sk, ""); err != nil {
		return fmt.Errorf("deleting token %s: %w", k, err)
	}
	return nil
}

// deleteSecret deletes the Secret name at resourceVersion rv (read fresh when empty), again
// after a conflict, and reports whether it deleted it (false: it was gone).
func (s *Store) deleteSecret(ctx context.Context, name, sk, rv string) (bool, error) {
	for range maxAttempts {
		if rv == "" {
			st, err := s.current(ctx, tokenstore.Key{}, name, sk, true)
			if err != nil {
				return false, err
			}
			if !st.present {
				return false, nil
			}
			rv = st.rv
		}
		err := s.secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		switch {
		case err == nil:
			s.announce(s.view.forget(name, sk, rvOf(rv)))
			return true, nil
		case apierrors.IsNotFound(err):
			s.announce(s.view.forget(name, sk, rvOf(rv)))
			return false, nil
		case apierrors.IsConflict(err):
			rv = ""
			continue
		}
		return false, err
	}
	return false, fmt.Errorf("Secret %s/%s kept changing", s.ns, name)
}

// DeleteServer removes every record of namespace/name, found on the API server by ServerLabel
// (not in the possibly stale view), and says how many it removed.
func (s *Store) DeleteServer(namespace, name string) (int, error) {
	prefix, err := tokenstore.ServerPrefix(namespace, name)
	if err != nil {
		return 0, err
	}
	if err := s.enter(); err != nil {
		return 0, fmt.Errorf("deleting tokens of %s/%s: %w", namespace, name, err)
	}
	defer s.leave()
	ctx, cancel := s.request()
	defer cancel()
	list, err := s.secrets.List(ctx, metav1.ListOptions{
		FieldSelector: "type=" + string(SecretType), LabelSelector: ServerLabel + "=" + ServerLabelValue(prefix)})
	if err != nil {
		return 0, fmt.Errorf("deleting tokens of %s/%s: %w", namespace, name, err)
	}
	n := 0
	for i := range list.Items {
		sec := &list.Items[i]
		sk := sec.Annotations[KeyAnnotation]
		if sk != "" && !ownedBy(sk, prefix) {
			continue // another server whose label hash collides
		}
		deleted, err := s.deleteSecret(ctx, sec.Name, sk, sec.ResourceVersion)
		if err != nil {
			return n, fmt.Errorf("deleting tokens of %s/%s: %w", namespace, name, err)
		}
		if deleted {
			n++
		}
	}
	return n, nil
}

// ownedBy reports whether storage key sk is a binding of the server with prefix.
func ownedBy(sk, prefix string) bool {
	if len(sk) <= len(prefix) || sk[:len(prefix)] != prefix {
		return false
	}
	for _, c := range sk[len(prefix):] {
		if c == '/' {
			return false
		}
	}
	return true
}
