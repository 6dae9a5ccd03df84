package oauthserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// oauthError is an RFC 6749 §5.2 error with its HTTP status.
type oauthError struct {
	status int
	code   string
	desc   string
}

func errInvalidRequest(desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_request", desc}
}

func errInvalidGrant(desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_grant", desc}
}

func errInvalidClient(desc string) *oauthError {
	return &oauthError{http.StatusUnauthorized, "invalid_client", desc}
}

// write sends the error. A 401 carries a Basic challenge, as RFC 6749
// §5.2 requires when the client may authenticate with HTTP Basic.
func (e *oauthError) write(w http.ResponseWriter) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauthserver"`)
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

// handleToken serves the token endpoint: injected faults first, then client
// authentication, then the grant.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		errInvalidRequest("malformed form body").write(w)
		return
	}
	gt := r.PostForm.Get("grant_type")
	s.mu.Lock()
	s.stats.TokenRequests[gt]++
	// Count refreshes in flight per grant before any injected delay, so a
	// slow answer makes racing refreshes of one grant visible.
	var g *grant
	if rt := s.refresh[r.PostForm.Get("refresh_token")]; gt == "refresh_token" && rt != nil {
		g = s.grants[rt.grantID]
		g.inflight++
		s.stats.MaxConcurrentRefreshes = max(s.stats.MaxConcurrentRefreshes, g.inflight)
	}
	fault := s.popFaultLocked()
	s.mu.Unlock()
	if g != nil {
		defer func() {
			s.mu.Lock()
			g.inflight--
			s.mu.Unlock()
		}()
	}
	if fault != nil && s.applyFault(w, r, *fault) {
		return
	}
	if s.opts.TokenDelay > 0 {
		s.sleep(r, s.opts.TokenDelay)
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			errInvalidRequest("parameter " + k + " is repeated").write(w)
			return
		}
	}
	c, oerr := s.authenticateClient(r)
	if oerr == nil {
		switch gt {
		case "authorization_code":
			oerr = s.redeemCode(w, r, c)
		case "refresh_token":
			oerr = s.redeemRefresh(w, r, c)
		case "":
			oerr = errInvalidRequest("grant_type is required")
		default:
			oerr = &oauthError{http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type"}
		}
	}
	if oerr != nil {
		s.opts.Logger.Info("Rejected token request", "grantType", gt, "error", oerr.code, "reason", oerr.desc)
		oerr.write(w)
	}
}

// authenticateClient applies client_secret_basic, client_secret_post or
// none, refusing requests that use two methods at once (RFC 6749 §2.3).
func (s *Server) authenticateClient(r *http.Request) (*client, *oauthError) {
	id, secret, basic := r.BasicAuth()
	postID, postSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	method := "none"
	switch {
	case basic && postSecret != "":
		return nil, errInvalidRequest("more than one client authentication method")
	case basic:
		// Basic credentials are form-encoded first (RFC 6749 §2.3.1).
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || (postID != "" && postID != id) {
			return nil, errInvalidClient("malformed basic credentials")
		}
		method = "client_secret_basic"
		if secret == "" {
			// golang.org/x/oauth2 sends public clients as "id:" in Basic;
			// that identifies the client without authenticating it.
			method = "none"
		}
	case postSecret != "":
		id, secret, method = postID, postSecret, "client_secret_post"
	default:
		id = postID
	}
	if id == "" {
		return nil, errInvalidClient("client authentication required")
	}
	s.mu.Lock()
	c := s.clients[id]
	s.mu.Unlock()
	switch {
	case c == nil:
		return nil, errInvalidClient("unknown client")
	case c.secret == "" && method != "none":
		return nil, errInvalidClient("public client must not send a secret")
	case c.secret == "":
		return c, nil
	case method == "none":
		return nil, errInvalidClient("confidential client must authenticate")
	case c.authMethod != "" && c.authMethod != method:
		return nil, errInvalidClient("client is registered for " + c.authMethod)
	case subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1:
		return nil, errInvalidClient("wrong client secret")
	}
	return c, nil
}

// redeemCode exchanges an authorization code. A code works once; a replay
// revokes what the first redemption produced (RFC 6749 §4.1.2).
func (s *Server) redeemCode(w http.ResponseWriter, r *http.Request, c *client) *oauthError {
	f := r.PostForm
	verifier := f.Get("code_verifier")
	if f.Get("code") == "" || verifier == "" {
		return errInvalidRequest("code and code_verifier are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ac := s.codes[f.Get("code")]
	switch {
	case ac == nil:
		return errInvalidGrant("unknown authorization code")
	case ac.used:
		s.stats.CodeReuses++
		if g := s.grants[ac.grantID]; g != nil {
			g.revoked = true
		}
		return errInvalidGrant("authorization code already used")
	}
	ac.used = true
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case !s.now().Before(ac.expires):
		return errInvalidGrant("authorization code expired")
	case ac.req.clientID != c.id:
		return errInvalidGrant("authorization code was issued to another client")
	case f.Get("redirect_uri") != ac.req.redirectURI:
		return errInvalidGrant("redirect_uri does not match the authorization request")
	case subtle.ConstantTimeCompare([]byte(b64.EncodeToString(sum[:])), []byte(ac.req.challenge)) != 1:
		return errInvalidGrant("code_verifier does not match code_challenge")
	case f.Get("resource") != "" && f.Get("resource") != ac.req.resource:
		return &oauthError{http.StatusBadRequest, "invalid_target", "resource differs from the authorization request"}
	}
	g := &grant{
		id: randomToken("grant")[:20], clientID: c.id, subject: ac.req.user,
		resource: ac.req.resource, scopes: ac.req.scopes,
	}
	s.grants[g.id] = g
	ac.grantID = g.id
	resp, err := s.issueTokensLocked(g, g.scopes, !s.opts.NoRefreshToken)
	if err != nil {
		return &oauthError{http.StatusInternalServerError, "server_error", "could not sign token"}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// redeemRefresh serves the refresh_token grant with rotation and reuse
// detection: a rotated token replayed after the grace window is treated as
// stolen and the whole grant dies (OAuth 2.0 Security BCP §4.14.2).
func (s *Server) redeemRefresh(w http.ResponseWriter, r *http.Request, c *client) *oauthError {
	f := r.PostForm
	if f.Get("refresh_token") == "" {
		return errInvalidRequest("refresh_token is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	rt := s.refresh[f.Get("refresh_token")]
	if rt == nil {
		return errInvalidGrant("unknown refresh token")
	}
	g := s.grants[rt.grantID]
	switch {
	case g.revoked:
		return errInvalidGrant("grant revoked")
	case g.clientID != c.id:
		return errInvalidGrant("refresh token was issued to another client")
	case !now.Before(rt.expires):
		return errInvalidGrant("refresh token expired")
	case f.Get("resource") != "" && f.Get("resource") != g.resource:
		return &oauthError{http.StatusBadRequest, "invalid_target", "resource differs from the grant"}
	}
	scopes, oerr := narrowScopes(g, f.Get("scope"))
	if oerr != nil {
		return oerr
	}
	if !rt.rotatedAt.IsZero() {
		return s.redeemRotatedLocked(w, c, g, rt, scopes, now)
	}
	rotate := !s.opts.NoRotation
	resp, err := s.issueTokensLocked(g, scopes, rotate)
	if err != nil {
		return &oauthError{http.StatusInternalServerError, "server_error", "could not sign token"}
	}
	if rotate {
		rt.rotatedAt = now
	}
	s.stats.Refreshes++
	s.stats.user(g.subject, func(u *UserStats) { u.Refreshes++ })
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// narrowScopes is the scope a refresh asks for: the whole grant when
// omitted, else a subset of it, since a refresh may narrow the grant but
// never widen it (RFC 6749 §6).
func narrowScopes(g *grant, scope string) ([]string, *oauthError) {
	req := splitScopes(scope)
	if len(req) == 0 {
		return g.scopes, nil
	}
	for _, sc := range req {
		if !slices.Contains(g.scopes, sc) {
			return nil, &oauthError{http.StatusBadRequest, "invalid_scope", "scope exceeds the grant"}
		}
	}
	return req, nil
}

// redeemRotatedLocked answers a refresh token that was already rotated
// away. Outside the grace window that is reuse and kills the grant; inside
// it, the racing client gets the grant's current refresh token, so both
// racers end up holding the same one.
func (s *Server) redeemRotatedLocked(w http.ResponseWriter, c *client, g *grant, rt *refreshToken, scopes []string, now time.Time) *oauthError {
	if s.opts.RefreshReuseGrace <= 0 || now.Sub(rt.rotatedAt) > s.opts.RefreshReuseGrace {
		g.revoked = true
		s.stats.RefreshReuseDetected++
		s.opts.Logger.Info("Detected refresh token reuse, revoked grant", "clientID", c.id)
		return errInvalidGrant("refresh token reuse detected; grant revoked")
	}
	s.stats.RefreshReuseWithinGrace++
	resp, err := s.issueTokensLocked(g, scopes, false)
	if err != nil {
		return &oauthError{http.StatusInternalServerError, "server_error", "could not sign token"}
	}
	resp.RefreshToken = g.current
	s.stats.Refreshes++
	s.stats.user(g.subject, func(u *UserStats) { u.Refreshes++ })
	writeJSON(w, http.StatusOK, resp)
	return nil
}
