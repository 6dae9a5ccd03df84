package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Token endpoint client authentication methods.
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
)

// postForm sends an application/x-www-form-urlencoded POST authenticated as client.
func postForm(ctx context.Context, hc *http.Client, endpoint string, form url.Values, client ClientRegistration) (*response, error) {
	if err := checkSecureEndpoint("endpoint", endpoint); err != nil {
		return nil, err
	}
	basic := false
	switch effectiveAuthMethod(client) {
	case AuthMethodBasic:
		basic = true
	case AuthMethodPost:
		form.Set("client_id", client.ClientID)
		form.Set("client_secret", client.ClientSecret)
	default:
		form.Set("client_id", client.ClientID)
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", Redact(endpoint), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
		cred := url.QueryEscape(client.ClientID) + ":" + url.QueryEscape(client.ClientSecret)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	return do(ctx, hc, req)
}

// effectiveAuthMethod returns the client's method, defaulting by whether it has a secret.
func effectiveAuthMethod(c ClientRegistration) string {
	switch c.AuthMethod {
	case AuthMethodBasic, AuthMethodPost, AuthMethodNone:
		if c.AuthMethod != AuthMethodNone && c.ClientSecret == "" {
			return AuthMethodNone
		}
		return c.AuthMethod
	}
	if c.ClientSecret != "" {
		return AuthMethodBasic
	}
	return AuthMethodNone
}

// oauthErrorBody is an RFC 6749 §5.2 error response.
type oauthErrorBody struct {
	Code        string
	Description string
}

// parseErrorBody reads an OAuth error body, tolerating non-JSON answers.
func parseErrorBody(body []byte) oauthErrorBody {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		return oauthErrorBody{Code: lenientString(obj["error"]), Description: lenientString(obj["error_description"])}
	}
	return oauthErrorBody{Description: string(body)}
}

// statusError classifies an unsuccessful HTTP answer. now may be nil.
func statusError(op string, resp *response, now func() time.Time) *Error {
	eb := parseErrorBody(resp.Body)
	code := eb.Code
	if !isSafeCode(code) {
		eb.Description = code + " " + eb.Description
		code = ""
	}
	e := &Error{Op: op, Code: code, Description: cleanDescription(eb.Description), Status: resp.Status}
	if v := resp.Header.Get("Retry-After"); v != "" {
		t := time.Now()
		if now != nil {
			t = now()
		}
		e.RetryAfter = parseRetryAfter(v, t)
	}
	switch {
	case resp.Status >= 500, resp.Status == http.StatusTooManyRequests, resp.Status == http.StatusRequestTimeout:
		e.Permanent = false
	case permanentCodes[code]:
		e.Permanent = true
	case resp.Status == http.StatusUnauthorized && code == "":
		// A bare 401 from a token endpoint is a rejected client (invalid_client).
		e.Permanent = true
	default:
		// Unknown answers keep the refresh token: retry with backoff and report.
		e.Permanent = false
	}
	return e
}

// isSafeCode reports whether an error code is a plain RFC 6749 error token.
func isSafeCode(code string) bool {
	if len(code) > 64 {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// transportError wraps a failure to get any answer as transient.
func transportError(op string, err error) *Error {
	return &Error{Op: op, Err: err}
}

// parseTokenResponse decodes a successful token response. A missing expires_in leaves
// Expiry zero, meaning "unknown": the caller decides when to refresh (typically only
// after the server rejects the access token). Malformed bodies are transient errors so
// the caller never discards its refresh token because of them.
func parseTokenResponse(op string, resp *response, now time.Time, requested []string) (*Token, error) {
	obj, err := decodeObject(resp.Body)
	if err != nil {
		return nil, &Error{Op: op, Code: "malformed_response", Status: resp.Status,
			Description: "token response is not a JSON object"}
	}
	t := &Token{
		AccessToken:  lenientString(obj["access_token"]),
		RefreshToken: lenientString(obj["refresh_token"]),
		TokenType:    lenientString(obj["token_type"]),
		Scopes:       strings.Fields(lenientString(obj["scope"])),
	}
	RegisterSecret(t.AccessToken, t.RefreshToken, lenientString(obj["id_token"]))
	if t.AccessToken == "" {
		return nil, &Error{Op: op, Code: "malformed_response", Status: resp.Status,
			Description: "token response has no access_token"}
	}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if len(t.Scopes) == 0 {
		// RFC 6749 §5.1: an omitted scope means the requested scope was granted.
		t.Scopes = append([]string(nil), requested...)
	}
	if secs, ok := lenientInt64(obj["expires_in"]); ok && secs > 0 {
		const maxLifetime = 10 * 365 * 24 * time.Hour
		d := time.Duration(secs) * time.Second
		if secs > int64(maxLifetime/time.Second) {
			d = maxLifetime
		}
		t.Expiry = now.Add(d)
	}
	return t, nil
}
