package oauthserver

import "net/http"

// handleRevoke serves RFC 7009 token revocation. Revoking a refresh token
// kills its grant (and so the grant's access tokens); revoking an access
// token kills only that token. Unknown tokens, or tokens of another
// client, get 200 and no effect, so the endpoint cannot probe for tokens.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		errInvalidRequest("malformed form body").write(w)
		return
	}
	c, oerr := s.authenticateClient(r)
	if oerr != nil {
		oerr.write(w)
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		errInvalidRequest("token is required").write(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.refresh[tok]; rt != nil {
		if g := s.grants[rt.grantID]; g.clientID == c.id {
			g.revoked = true
			s.stats.Revocations++
		}
	} else if claims, err := s.signer.verify(tok); err == nil && claims.ClientID == c.id {
		if _, ok := s.access[claims.ID]; ok {
			delete(s.access, claims.ID)
			s.stats.Revocations++
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
