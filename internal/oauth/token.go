package oauth

import "time"

// Token is a token response the caller persists.
type Token struct {
	// AccessToken is sent to the MCP server as a Bearer token.
	AccessToken string
	// RefreshToken obtains new access tokens; empty when the server issued none.
	RefreshToken string
	// TokenType is the token type, "Bearer" when the server omitted it.
	TokenType string
	// Expiry is when the access token expires; zero means unknown (no expires_in).
	Expiry time.Time
	// Scopes is the granted scope; the requested scope when the server omitted it. After a
	// refresh that requested no scope and got none back it is empty: the grant's scope is
	// unchanged and the caller keeps the one it stored.
	Scopes []string
}

// ExpiresWithin reports whether the token expires within d of now. A token with an
// unknown expiry never does: the caller learns of its end from a 401.
func (t Token) ExpiresWithin(now time.Time, d time.Duration) bool {
	return !t.Expiry.IsZero() && !now.Add(d).Before(t.Expiry)
}
