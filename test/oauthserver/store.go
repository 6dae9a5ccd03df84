package oauthserver

import (
	"slices"
	"time"
)

// client is a registered OAuth client.
type client struct {
	id           string
	secret       string // empty for public clients
	redirectURIs []string
	// authMethod is the registered token_endpoint_auth_method; empty for
	// pre-registered confidential clients, which may use basic or post.
	authMethod    string
	preregistered bool
}

// authCode is an authorization code and the request it answers.
type authCode struct {
	req     authRequest
	expires time.Time
	used    bool
	grantID string // set once redeemed, so a replay can revoke the grant
}

// grant is what a user approved; subject is that user, and every token of the grant,
// across refreshes, is issued to it: it outlives individual tokens, and
// revoking it kills every token derived from it.
type grant struct {
	id       string
	clientID string
	subject  string
	resource string
	scopes   []string
	revoked  bool
	current  string // the refresh token that is not yet rotated
	inflight int    // refresh requests being served now
}

// refreshToken records one refresh token ever issued for a grant.
type refreshToken struct {
	grantID   string
	expires   time.Time
	rotatedAt time.Time // zero while it is the grant's current token
}

// codeTTL is short, as RFC 6749 §4.1.2 recommends (at most 10 minutes).
const codeTTL = time.Minute

// resetLocked forgets every grant, token, dynamically registered client,
// fault and counter. It keeps the signing key and the list of issued
// secrets, which must cover the whole life of the server.
func (s *Server) resetLocked() {
	s.clients = map[string]*client{}
	for id, secret := range s.opts.Clients {
		s.clients[id] = &client{id: id, secret: secret, preregistered: true}
	}
	s.codes = map[string]*authCode{}
	s.consents = map[string]*authRequest{}
	s.grants = map[string]*grant{}
	s.refresh = map[string]*refreshToken{}
	s.access = map[string]string{}
	s.stats = newStats()
	s.faults = nil
	s.outage = OutageNone
	s.outUntil = time.Time{}
}

// Reset returns the server to its freshly started state: no grants, no
// dynamically registered clients, no faults, no outage, zero counters.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
	s.opts.Logger.Info("Reset server state")
}

// RevokeAll revokes every grant, and so every access and refresh token;
// clients must log in again. Registered clients stay.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		g.revoked = true
	}
	for _, c := range s.codes {
		c.used = true
	}
	s.opts.Logger.Info("Revoked all grants", "grants", len(s.grants))
}

// IssuedSecrets lists every access token, refresh token, authorization code
// and client secret this server ever handed out (and pre-registered client
// secrets), so tests can assert none of them reached a log.
func (s *Server) IssuedSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// newSecretLocked mints an opaque secret and remembers it as issued.
func (s *Server) newSecretLocked(prefix string) string {
	v := randomToken(prefix)
	s.issued = append(s.issued, v)
	return v
}

// issueTokensLocked mints an access token for g with scopes (a subset of
// the grant's), and a refresh token when withRefresh is set, making it g's
// current one.
func (s *Server) issueTokensLocked(g *grant, scopes []string, withRefresh bool) (tokenResponse, error) {
	now := s.now()
	ttl := s.opts.AccessTokenTTL
	if s.ttlFunc != nil {
		ttl = max(s.ttlFunc(now).Truncate(time.Second), time.Second)
	}
	jti := randomToken("at")[:24]
	at, err := s.signer.sign(accessClaims{
		Issuer:   s.issuerLocked(),
		Subject:  g.subject,
		Audience: g.resource,
		Expiry:   now.Add(ttl).Unix(),
		IssuedAt: now.Unix(),
		ID:       jti,
		Scope:    joinScopes(scopes),
		ClientID: g.clientID,
	})
	if err != nil {
		return tokenResponse{}, err
	}
	s.access[jti] = g.id
	s.issued = append(s.issued, at)
	s.stats.user(g.subject, func(u *UserStats) { u.AccessTokens++ })
	resp := tokenResponse{
		AccessToken: at,
		TokenType:   "Bearer",
		ExpiresIn:   int64(ttl / time.Second),
		Scope:       joinScopes(scopes),
	}
	if withRefresh {
		rt := s.newSecretLocked("rt")
		s.refresh[rt] = &refreshToken{grantID: g.id, expires: now.Add(s.opts.RefreshTokenTTL)}
		g.current = rt
		resp.RefreshToken = rt
		s.stats.user(g.subject, func(u *UserStats) { u.RefreshTokens++ })
	}
	return resp, nil
}

// issuerLocked is Issuer for callers already holding s.mu.
func (s *Server) issuerLocked() string { return s.baseURL + s.opts.IssuerPath }

// SetAccessTokenTTL makes the lifetime of access tokens issued from now on ttl(now) (whole
// seconds, at least one); nil restores AccessTokenTTL. A benchmark lines up the refreshes of
// many tokens with it, so that they fall due together.
func (s *Server) SetAccessTokenTTL(ttl func(now time.Time) time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttlFunc = ttl
}
