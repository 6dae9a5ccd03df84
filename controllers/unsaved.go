package controllers

import (
	"errors"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

type unsavedRecord struct {
	rec            *tokenstore.Record
	expectRevision uint64
}

// keepUnsaved remembers a refreshed token whose save failed. The authorization server may
// already have rotated the refresh token, so this copy is the only one that still works.
func (r *UpstreamServerReconciler) keepUnsaved(k tokenstore.Key, rec *tokenstore.Record, expectRevision uint64) {
	r.unsavedMu.Lock()
	defer r.unsavedMu.Unlock()
	if r.unsaved == nil {
		r.unsaved = map[tokenstore.Key]unsavedRecord{}
	}
	r.unsaved[k] = unsavedRecord{rec: rec, expectRevision: expectRevision}
}

func (r *UpstreamServerReconciler) forgetUnsaved(k tokenstore.Key) {
	r.unsavedMu.Lock()
	defer r.unsavedMu.Unlock()
	delete(r.unsaved, k)
}

// saveUnsaved saves a remembered token before anything else reads the store. A conflict means
// a newer token landed meanwhile: the remembered one is older and is dropped.
func (r *UpstreamServerReconciler) saveUnsaved(st *serverState) error {
	r.unsavedMu.Lock()
	u, ok := r.unsaved[st.key]
	r.unsavedMu.Unlock()
	if !ok {
		return nil
	}
	_, err := r.Store.Save(st.key, u.rec, u.expectRevision)
	if err != nil && !isConflict(err) {
		return err
	}
	r.forgetUnsaved(st.key)
	return nil
}

func isConflict(err error) bool { return errors.Is(err, tokenstore.ErrConflict) }
