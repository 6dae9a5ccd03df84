package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// RefreshRequest is everything a refresh needs; the caller holds all of it in storage.
type RefreshRequest struct {
	// TokenEndpoint is the authorization server's token endpoint.
	TokenEndpoint string
	// Resource is the RFC 8707 resource indicator, sent again on refresh.
	Resource string
	// Client authenticates the request with its AuthMethod.
	Client ClientRegistration
	// RefreshToken is the token to spend.
	RefreshToken string
	// Scopes narrows the requested scope; empty asks for the originally granted scope.
	Scopes []string
	// HTTPClient is used for the request; nil means a default client with timeouts.
	HTTPClient *http.Client
	// Now is the clock used to turn expires_in into Expiry; nil means time.Now.
	Now func() time.Time
	// Logger receives redacted progress lines tagged with the context's correlation ID.
	Logger logr.Logger
}

// Refresh spends r.RefreshToken once (grant_type=refresh_token) and returns the new
// token for the caller to persist before use. When the answer carries no refresh token
// the old one is kept in the result. A missing expires_in yields a zero Expiry
// (unknown). Failures are *Error values matching ErrPermanent (log in again) or
// ErrTransient (retry later, keep the refresh token). Refresh never runs by itself.
func Refresh(ctx context.Context, r RefreshRequest) (*Token, error) {
	const op = "token refresh"
	ctx, _ = ensureCorrelationID(ctx)
	log := flowLogger(ctx, r.Logger)
	now := r.Now
	if now == nil {
		now = time.Now
	}
	if r.RefreshToken == "" {
		return nil, &Error{Op: op, Code: "invalid_grant", Description: "no refresh token", Permanent: true}
	}
	RegisterSecret(r.RefreshToken, r.Client.ClientSecret)
	form := url.Values{}
	form.Set("grant_type", "refresh_token")
	form.Set("refresh_token", r.RefreshToken)
	if r.Resource != "" {
		form.Set("resource", r.Resource)
	}
	if len(r.Scopes) > 0 {
		form.Set("scope", strings.Join(r.Scopes, " "))
	}
	resp, err := postForm(ctx, r.HTTPClient, r.TokenEndpoint, form, r.Client)
	if err != nil {
		log.Info("Failed to reach token endpoint", "tokenEndpoint", Redact(r.TokenEndpoint), "error", Redact(err.Error()))
		return nil, transportError(op, err)
	}
	if resp.Status != http.StatusOK {
		e := statusError(op, resp, now)
		log.Info("Token endpoint refused refresh", "status", e.Status, "code", e.Code, "permanent", e.Permanent,
			"retryAfter", e.RetryAfter)
		return nil, e
	}
	tok, err := parseTokenResponse(op, resp, now(), r.Scopes)
	if err != nil {
		log.Info("Token endpoint answered refresh with a malformed body", "error", Redact(err.Error()))
		return nil, err
	}
	rotated := tok.RefreshToken != "" && tok.RefreshToken != r.RefreshToken
	if tok.RefreshToken == "" {
		tok.RefreshToken = r.RefreshToken
	}
	var expiresIn time.Duration
	if !tok.Expiry.IsZero() {
		expiresIn = tok.Expiry.Sub(now()).Round(time.Second)
	}
	// Debug only: the caller logs the refresh once it is saved ("Refreshed token"), and one line
	// per refresh is what a log sampler at thousands of refreshes a minute can keep.
	log.V(1).Info("Received a refreshed token", "tokenEndpoint", Redact(r.TokenEndpoint), "rotated", rotated, "expiresIn", expiresIn)
	return tok, nil
}

// Revoke asks endpoint (RFC 7009) to revoke token, e.g. on logout. hint is
// "refresh_token", "access_token" or "". An empty endpoint returns ErrRevocationUnsupported.
func Revoke(ctx context.Context, endpoint string, client ClientRegistration, token, hint string, hc *http.Client) error {
	const op = "token revocation"
	if endpoint == "" {
		return ErrRevocationUnsupported
	}
	RegisterSecret(token, client.ClientSecret)
	form := url.Values{}
	form.Set("token", token)
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	resp, err := postForm(ctx, hc, endpoint, form, client)
	if err != nil {
		return transportError(op, err)
	}
	if resp.Status != http.StatusOK {
		return statusError(op, resp, nil)
	}
	return nil
}

// String describes the request without secrets, so a stray %v cannot leak them.
func (r RefreshRequest) String() string {
	return fmt.Sprintf("RefreshRequest{tokenEndpoint=%s resource=%s client=%s refresh=%s}",
		Redact(r.TokenEndpoint), Redact(r.Resource), r.Client, presence(r.RefreshToken))
}

// GoString is String, also for %#v.
func (r RefreshRequest) GoString() string { return r.String() }
