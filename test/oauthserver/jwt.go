package oauthserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// errBadToken is returned for any token that does not parse or whose
// signature does not verify; callers do not need to tell these apart.
var errBadToken = errors.New("malformed or badly signed token")

// accessClaims are the claims of the access tokens this server signs. The
// audience is a single string because a grant is bound to one resource.
type accessClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

// signer signs and verifies ES256 JWTs with a key generated at start-up, so
// tokens from one test server are never accepted by another.
type signer struct {
	key *ecdsa.PrivateKey
	kid string
}

func newSigner() *signer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		// The system random source failing is not something a test server
		// can recover from.
		panic(fmt.Sprintf("oauthserver: generating signing key: %v", err))
	}
	return &signer{key: key, kid: randomToken("kid")[:16]}
}

var b64 = base64.RawURLEncoding

func (s *signer) sign(c accessClaims) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": s.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing access token: %w", err)
	}
	// JWS wants the fixed-width r||s form, not ASN.1 (RFC 7518 §3.4).
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig), nil
}

// verify checks the signature and header and returns the claims; the caller
// judges issuer, audience, expiry and revocation.
func (s *signer) verify(token string) (accessClaims, error) {
	var c accessClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errBadToken
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return c, errBadToken
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	// Pinning alg defends against "alg: none" and algorithm confusion.
	if json.Unmarshal(hb, &h) != nil || h.Alg != "ES256" || h.Kid != s.kid {
		return c, errBadToken
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return c, errBadToken
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r := new(big.Int).SetBytes(sig[:32])
	sv := new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&s.key.PublicKey, digest[:], r, sv) {
		return c, errBadToken
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(pb, &c) != nil {
		return c, errBadToken
	}
	return c, nil
}

// jwks is the public key set served at jwks_uri, so a client may verify the
// access tokens itself if it wants to.
func (s *signer) jwks() map[string]any {
	pub := s.key.Public().(*ecdsa.PublicKey)
	raw, err := pub.Bytes() // uncompressed point: 0x04 || X || Y
	if err != nil {
		panic(fmt.Sprintf("oauthserver: encoding public key: %v", err))
	}
	return map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": s.kid,
		"x": b64.EncodeToString(raw[1:33]), "y": b64.EncodeToString(raw[33:65]),
	}}}
}

// randomToken returns an unguessable opaque value with a readable prefix, so
// a leaked secret found in a log says what kind it was.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("oauthserver: reading random bytes: %v", err))
	}
	return prefix + "_" + b64.EncodeToString(b)
}
