package oauthserver

import "maps"

// Stats counts what clients did, so tests can assert on behaviour the
// client does not report (how often it refreshed, whether it raced).
type Stats struct {
	// TokenRequests counts token endpoint requests by grant_type.
	TokenRequests map[string]int `json:"tokenRequests"`
	// Refreshes counts successful refresh_token grants.
	Refreshes int `json:"refreshes"`
	// RefreshReuseDetected counts replays of rotated refresh tokens that
	// revoked a grant.
	RefreshReuseDetected int `json:"refreshReuseDetected"`
	// RefreshReuseWithinGrace counts replays forgiven by the grace window.
	RefreshReuseWithinGrace int `json:"refreshReuseWithinGrace"`
	// MaxConcurrentRefreshes is the most refresh requests seen in flight
	// at once for a single grant.
	MaxConcurrentRefreshes int `json:"maxConcurrentRefreshes"`
	// CodeReuses counts replays of authorization codes.
	CodeReuses int `json:"codeReuses"`
	// TokenFaultsInjected counts token requests answered by a fault.
	TokenFaultsInjected int `json:"tokenFaultsInjected"`
	// Registrations counts successful dynamic client registrations.
	Registrations int `json:"registrations"`
	// Authorizations counts authorization codes issued.
	Authorizations int `json:"authorizations"`
	// Denials counts consent pages answered with Deny.
	Denials int `json:"denials"`
	// Revocations counts tokens revoked through /revoke.
	Revocations int `json:"revocations"`
	// MCPValidToken counts MCP requests let through with a valid token.
	MCPValidToken int `json:"mcpValidToken"`
	// MCPNoToken counts MCP requests without a bearer token.
	MCPNoToken int `json:"mcpNoToken"`
	// MCPExpiredToken counts MCP requests with an expired token.
	MCPExpiredToken int `json:"mcpExpiredToken"`
	// MCPWrongAudience counts MCP requests with a token for another resource.
	MCPWrongAudience int `json:"mcpWrongAudience"`
	// MCPInvalidToken counts MCP requests with a token that is forged,
	// malformed, from another issuer, or revoked.
	MCPInvalidToken int `json:"mcpInvalidToken"`
	// MCPInsufficientScope counts MCP requests answered 403.
	MCPInsufficientScope int `json:"mcpInsufficientScope"`
	// MCPOutageAnswers counts MCP requests refused by an injected outage.
	MCPOutageAnswers int `json:"mcpOutageAnswers"`
	// Users counts, by user name (the tokens' sub), what was issued to each user and how
	// often each one's tokens reached the MCP server.
	Users map[string]UserStats `json:"users"`
}

// UserStats are the counters of one user.
type UserStats struct {
	// Authorizations counts authorization codes issued for the user.
	Authorizations int `json:"authorizations"`
	// AccessTokens counts access tokens issued, by code exchange and by refresh.
	AccessTokens int `json:"accessTokens"`
	// RefreshTokens counts refresh tokens issued (each rotation issues one).
	RefreshTokens int `json:"refreshTokens"`
	// Refreshes counts successful refresh_token grants.
	Refreshes int `json:"refreshes"`
	// MCPValidToken counts MCP requests let through with one of the user's tokens.
	MCPValidToken int `json:"mcpValidToken"`
}

func newStats() Stats { return Stats{TokenRequests: map[string]int{}, Users: map[string]UserStats{}} }

// user applies f to the counters of user name.
func (st *Stats) user(name string, f func(*UserStats)) {
	u := st.Users[name]
	f(&u)
	st.Users[name] = u
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.TokenRequests = maps.Clone(s.stats.TokenRequests)
	st.Users = maps.Clone(s.stats.Users)
	return st
}
