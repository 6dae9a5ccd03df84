package oauth

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Classes of failure. An *Error matches exactly one of them with errors.Is.
var (
	// ErrPermanent means the grant or the client was rejected: a person must log in again.
	ErrPermanent = errors.New("oauth: permanent failure, a new login is required")
	// ErrTransient means the attempt may succeed later: network errors, timeouts, 5xx, 429,
	// malformed answers. The refresh token must be kept.
	ErrTransient = errors.New("oauth: transient failure, retry later")
)

// Sentinel errors for discovery and the login flow.
var (
	// ErrResourceMismatch means the protected resource metadata names another resource.
	ErrResourceMismatch = errors.New("oauth: protected resource metadata names a different resource")
	// ErrIssuerMismatch means an issuer (metadata document or RFC 9207 iss) differs from the expected one.
	ErrIssuerMismatch = errors.New("oauth: issuer mismatch")
	// ErrPKCEUnsupported means the authorization server does not advertise PKCE with S256.
	ErrPKCEUnsupported = errors.New("oauth: authorization server does not support PKCE S256")
	// ErrNoClientID means no client identity could be obtained; a client ID must be configured.
	ErrNoClientID = errors.New("oauth: no client ID available, configure a client ID")
	// ErrStateMismatch means the callback's state does not match the one sent.
	ErrStateMismatch = errors.New("oauth: state mismatch in authorization callback")
	// ErrAccessDenied means the user or the server refused the authorization request.
	ErrAccessDenied = errors.New("oauth: access denied")
	// ErrLoginTimeout means no callback arrived in time.
	ErrLoginTimeout = errors.New("oauth: timed out waiting for the authorization callback")
	// ErrNoAuthRequired means the MCP server answered without asking for a token.
	ErrNoAuthRequired = errors.New("oauth: server does not require authorization")
	// ErrInsecureEndpoint means an authorization server endpoint is not https (and not loopback).
	ErrInsecureEndpoint = errors.New("oauth: authorization server endpoint must use https")
	// ErrMetadataNotFound means no protected resource or authorization server metadata could be found.
	ErrMetadataNotFound = errors.New("oauth: metadata not found")
	// ErrStepUpLimit means step-up authorization was attempted too many times.
	ErrStepUpLimit = errors.New("oauth: step-up authorization attempted too many times")
	// ErrRevocationUnsupported means the server advertises no revocation endpoint.
	ErrRevocationUnsupported = errors.New("oauth: server has no revocation endpoint")
)

// maxDescription bounds provider text kept in errors.
const maxDescription = 200

// permanentCodes are OAuth error codes after which only a new login helps.
var permanentCodes = map[string]bool{
	"invalid_grant":       true,
	"invalid_client":      true,
	"unauthorized_client": true,
	"invalid_scope":       true,
}

// Error is a failure reported by (or while talking to) an authorization server endpoint.
// errors.Is(err, ErrPermanent) or errors.Is(err, ErrTransient) tells the caller what to do.
type Error struct {
	// Op names what was being done: "token exchange", "refresh", "registration", "revocation".
	Op string
	// Code is the OAuth error code, e.g. "invalid_grant"; empty when the server sent none.
	Code string
	// Description is the provider's text, truncated and scrubbed of secrets.
	Description string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Permanent selects the class: ErrPermanent when true, ErrTransient otherwise.
	Permanent bool
	// Err is the underlying cause (network error, decoding error), if any.
	Err error
}

// Error describes the failure without any secret.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("oauth: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(" failed")
	} else {
		b.WriteString("request failed")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(Redact(e.Err.Error()))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Is matches the error's class, ErrPermanent or ErrTransient.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrPermanent:
		return e.Permanent
	case ErrTransient:
		return !e.Permanent
	}
	return false
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err means a person must log in again.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// IsTransient reports whether err is worth retrying later.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// RetryAfterOf returns the Retry-After carried by err, or 0.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// cleanDescription scrubs and truncates provider text for errors and logs.
func cleanDescription(s string) string {
	s = strings.TrimSpace(Redact(s))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxDescription {
		cut := maxDescription
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
