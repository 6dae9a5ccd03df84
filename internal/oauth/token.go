package oauth

import (
	"fmt"
	"time"
)

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

// String describes the token without its secrets, so a stray %v cannot leak it.
func (t Token) String() string {
	return fmt.Sprintf("Token{type=%s expiry=%s scopes=%q access=%s refresh=%s}", t.TokenType,
		t.Expiry.Format(time.RFC3339), t.Scopes, presence(t.AccessToken), presence(t.RefreshToken))
}

// GoString is String, also for %#v.
func (t Token) GoString() string { return t.String() }

// presence says whether a secret is set without showing it.
func presence(secret string) string {
	if secret == "" {
		return "none"
	}
	return Redacted
}
