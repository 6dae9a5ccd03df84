package secretstore

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// listAll lists every token Secret of the namespace from the API server, page by page.
func (s *Store) listAll(ctx context.Context) ([]corev1.Secret, error) {
	var out []corev1.Secret
	lo := s.selected(metav1.ListOptions{Limit: 500})
	for {
		list, err := s.secrets.List(ctx, lo)
		if err != nil {
			return nil, fmt.Errorf("listing token Secrets in namespace %s: %w", s.ns, err)
		}
		s.view.raise(rvOf(list.ResourceVersion))
		out = append(out, list.Items...)
		if list.Continue == "" {
			return out, nil
		}
		lo.Continue = list.Continue
	}
}

// sealedOf reads a token Secret as a sealed record; a Secret whose name, storage key or
// header do not agree is a *CorruptRecordError naming the Secret.
func sealedOf(sec *corev1.Secret) (tokenstore.Sealed, error) {
	sk := sec.Annotations[KeyAnnotation]
	rec, err := tokenstore.ParseSealed(sk, sec.Data[DataKey])
	if err == nil && SecretName(sk) != sec.Name {
		err = &tokenstore.CorruptRecordError{Key: rec.Key, Revision: rec.Revision, KeyID: rec.KeyID,
			Reason: "Secret " + sec.Name + " is not named after its storage key"}
	}
	if err != nil {
		return tokenstore.Sealed{}, fmt.Errorf("Secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	return rec, nil
}

// ExportSealed returns every record as stored, read from the API server.
func (s *Store) ExportSealed() ([]tokenstore.Sealed, error) {
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("exporting tokens: %w", err)
	}
	defer s.leave()
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.timeout)
	defer cancel()
	secs, err := s.listAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("exporting tokens: %w", err)
	}
	var out []tokenstore.Sealed
	var bad []error
	for i := range secs {
		rec, err := sealedOf(&secs[i])
		if err != nil {
			bad = append(bad, err)
			continue
		}
		out = append(out, rec)
	}
	return out, errors.Join(bad...)
}

// PutSealed stores a sealed record as it is, unless the same or a newer revision is stored
// (tokenstore.PutDecision); the stored revision is read from the API server.
func (s *Store) PutSealed(rec tokenstore.Sealed) (tokenstore.PutOutcome, error) {
	sk, err := tokenstore.CheckSealed(rec)
	if err != nil {
		return 0, err
	}
	if err := s.enter(); err != nil {
		return 0, fmt.Errorf("copying token %s: %w", rec.Key, err)
	}
	defer s.leave()
	ctx, cancel := s.request()
	defer cancel()
	name := SecretName(sk)
	for range maxAttempts {
		st, err := s.current(ctx, rec.Key, name, sk, true)
		if err != nil {
			return 0, fmt.Errorf("copying token %s: %w", rec.Key, err)
		}
		if st.corrupt != nil {
			return 0, st.corrupt
		}
		outcome := tokenstore.PutDecision(st.revision, rec.Revision)
		if outcome == tokenstore.PutUnchanged || outcome == tokenstore.PutKeptNewer {
			return outcome, nil
		}
		err = s.put(ctx, name, sk, rec.Value, st)
		if err == nil {
			return outcome, nil
		}
		if !errors.Is(err, errRace) {
			return 0, fmt.Errorf("copying token %s: %w", rec.Key, err)
		}
	}
	return 0, fmt.Errorf("copying token %s: Secret %s/%s kept changing", rec.Key, s.ns, name)
}

// Reseal re-encrypts every record sealed with a key other than the active one, keeping its
// contents and revision (the header's revision is unchanged, so no waiter wakes and no CAS
// loses). Records that cannot be opened are reported, one error each, and left as they are.
func (s *Store) Reseal() (int, error) {
	if err := s.enter(); err != nil {
		return 0, fmt.Errorf("resealing tokens: %w", err)
	}
	defer s.leave()
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.timeout)
	defer cancel()
	secs, err := s.listAll(ctx)
	if err != nil {
		return 0, fmt.Errorf("resealing tokens: %w", err)
	}
	n := 0
	var bad []error
	for i := range secs {
		sec := &secs[i]
		for attempt := 0; ; attempt++ {
			rec, err := sealedOf(sec)
			if err != nil {
				bad = append(bad, err)
				break
			}
			v, changed, err := s.keys.Reseal(rec)
			if err != nil {
				bad = append(bad, err)
				break
			}
			if !changed {
				break
			}
			sk := sec.Annotations[KeyAnnotation]
			err = s.put(ctx, sec.Name, sk, v, state{present: true, rv: sec.ResourceVersion})
			if err == nil {
				n++
				break
			}
			if !errors.Is(err, errRace) || attempt >= maxAttempts {
				return n, fmt.Errorf("resealing token %s: %w", rec.Key, err)
			}
			// Saved meanwhile: read it again (a save seals with the active key, so usually done).
			list, err := s.secrets.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + sec.Name + ",type=" + string(SecretType)})
			if err != nil {
				return n, fmt.Errorf("resealing token %s: %w", rec.Key, err)
			}
			if len(list.Items) == 0 {
				break
			}
			sec = &list.Items[0]
		}
	}
	if n > 0 {
		s.log.Info("Resealed token records with the active encryption key", "records", n, "keyID", s.keys.ActiveKeyID())
	}
	return n, errors.Join(bad...)
}
