package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// pkce is one RFC 7636 verifier and its S256 challenge.
type pkce struct {
	Verifier  string
	Challenge string
}

// newPKCE makes a 43-character verifier from 32 random bytes and its S256 challenge.
func newPKCE() pkce {
	v := randomString(32)
	sum := sha256.Sum256([]byte(v))
	RegisterSecret(v)
	return pkce{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// randomString returns n random bytes, base64url-encoded without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}
