package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// DefaultLoginTimeout bounds the wait for the browser to come back.
const DefaultLoginTimeout = 5 * time.Minute

// LoginOptions tunes the interactive part of Login.
type LoginOptions struct {
	// OpenBrowser sends the user to authURL; nil logs the URL for the user to open.
	OpenBrowser func(authURL string) error
	// CallbackPort is the loopback port; 0 reuses the registration's port when free, else random.
	CallbackPort int
	// Timeout bounds the wait for the callback; 0 means DefaultLoginTimeout.
	Timeout time.Duration
	// Now is the clock used to turn expires_in into Expiry; nil means time.Now.
	Now func() time.Time
	// Registration is a previously persisted client identity, reused when its issuer and
	// redirect URI still match.
	Registration *ClientRegistration
}

// LoginResult is everything the caller persists after a login.
type LoginResult struct {
	Token         Token
	Client        ClientRegistration
	Discovery     Discovery
	CorrelationID string
}

// RefreshRequest returns the request that refreshes this login's token; the caller fills
// in HTTPClient, Now and Logger.
func (r *LoginResult) RefreshRequest() RefreshRequest {
	return RefreshRequest{
		TokenEndpoint: r.Discovery.Metadata.TokenEndpoint,
		Resource:      r.Discovery.Resource,
		Client:        r.Client,
		RefreshToken:  r.Token.RefreshToken,
		Scopes:        nil, // the originally granted scope
	}
}

// reservedParams are authorization request parameters ExtraParams cannot replace.
var reservedParams = map[string]bool{
	"response_type": true, "client_id": true, "redirect_uri": true, "state": true, "scope": true,
	"code_challenge": true, "code_challenge_method": true, "resource": true,
}

// Login runs the whole authorization code flow: discovery, client identity, PKCE,
// loopback callback and code exchange. It returns ErrNoAuthRequired when the server
// needs no token.
func Login(ctx context.Context, cfg Config, opts LoginOptions) (*LoginResult, error) {
	ctx, cid := ensureCorrelationID(ctx)
	log := flowLogger(ctx, cfg.Logger)
	d, err := Discover(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if d.NoAuthRequired {
		return nil, ErrNoAuthRequired
	}
	state := randomString(32)
	verifier := newPKCE()
	preferred := registeredPort(opts.Registration, d.Issuer)
	cb, err := startCallback(opts.CallbackPort, preferred, func(q map[string][]string) (string, error) {
		return checkCallback(url.Values(q), state, d.Issuer, d.Metadata.ISSParameterSupported)
	})
	if err != nil {
		return nil, err
	}
	defer cb.Close()
	redirectURI := cb.RedirectURI()

	client, err := EnsureClient(ctx, cfg, d, opts.Registration, redirectURI)
	if err != nil {
		return nil, err
	}
	authURL, err := authorizationURL(d, client, redirectURI, state, verifier.Challenge, cfg.ExtraParams)
	if err != nil {
		return nil, err
	}
	log.Info("Started authorization", "issuer", d.Issuer, "clientID", client.ClientID, "redirectURI", redirectURI,
		"scopes", strings.Join(d.Scopes, " "))
	if err := sendToBrowser(log, opts.OpenBrowser, authURL); err != nil {
		return nil, err
	}
	code, err := cb.wait(ctx, opts.timeout())
	cb.Close() // one result only: stop listening before the exchange
	if err != nil {
		log.Info("Authorization did not complete", "error", Redact(err.Error()))
		return nil, err
	}
	tok, err := exchangeCode(ctx, cfg.HTTPClient, d, *client, code, redirectURI, verifier.Verifier, opts.clock())
	if err != nil {
		log.Info("Code exchange failed", "error", Redact(err.Error()))
		return nil, err
	}
	log.Info("Logged in", "issuer", d.Issuer, "scopes", strings.Join(tok.Scopes, " "),
		"hasRefreshToken", tok.RefreshToken != "", "expiry", tok.Expiry)
	return &LoginResult{Token: *tok, Client: *client, Discovery: *d, CorrelationID: cid}, nil
}

// registeredPort is the loopback port of a persisted registration for this issuer, or 0.
// Listening on it again lets the registration's redirect URI stay valid, so the client
// need not register anew.
func registeredPort(r *ClientRegistration, issuer string) int {
	port := 0
	if r != nil && r.Issuer == issuer && r.RedirectURI != "" {
		if u, err := url.Parse(r.RedirectURI); err == nil {
			port, _ = strconv.Atoi(u.Port())
		}
	}
	return port
}

// sendToBrowser hands authURL to open, or, without a browser to drive, logs it
// (redacted) for the user to open by hand.
func sendToBrowser(log logr.Logger, open func(authURL string) error, authURL string) error {
	if open != nil {
		if err := open(authURL); err != nil {
			return fmt.Errorf("oauth: opening the browser: %w", scrubbed(err))
		}
	} else {
		log.Info("Open this URL to log in", "url", Redact(authURL))
	}
	return nil
}

// timeout applies DefaultLoginTimeout, so a zero LoginOptions still cannot wait forever
// for a browser that never comes back.
func (o LoginOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultLoginTimeout
	}
	return o.Timeout
}

// clock lets tests fix the time that expires_in is counted from; time.Now otherwise.
func (o LoginOptions) clock() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

// authorizationURL builds the authorization request with PKCE S256, state, RFC 8707
// resource and the chosen scope.
func authorizationURL(d *Discovery, client *ClientRegistration, redirectURI, state, challenge string, extra map[string]string) (string, error) {
	u, err := url.Parse(d.Metadata.AuthorizationEndpoint)
	if err != nil {
		return "", fmt.Errorf("oauth: parsing authorization endpoint: %w", err)
	}
	q := u.Query()
	for k, v := range extra {
		if !reservedParams[k] {
			q.Set(k, v)
		}
	}
	q.Set("response_type", "code")
	q.Set("client_id", client.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", state)
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("resource", d.Resource)
	if len(d.Scopes) > 0 {
		q.Set("scope", strings.Join(d.Scopes, " "))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// checkCallback validates an authorization response: error, state, then RFC 9207 iss.
func checkCallback(q url.Values, state, issuer string, issRequired bool) (string, error) {
	// The state is checked first: an unsolicited response says nothing about this login.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return "", ErrStateMismatch
	}
	if iss, ok := q["iss"]; ok {
		if len(iss) != 1 || iss[0] != issuer {
			return "", fmt.Errorf("oauth: authorization response iss %q, expected %q: %w", Redact(strings.Join(iss, ",")), issuer, ErrIssuerMismatch)
		}
	} else if issRequired {
		return "", fmt.Errorf("oauth: authorization response lacks the iss parameter the server advertises: %w", ErrIssuerMismatch)
	}
	if code := q.Get("error"); code != "" {
		e := &Error{Op: "authorization", Code: code, Description: cleanDescription(q.Get("error_description")), Permanent: true}
		if !isSafeCode(code) {
			e.Code = "invalid_response"
		}
		if code == "access_denied" {
			return "", fmt.Errorf("%w: %w", ErrAccessDenied, e)
		}
		return "", e
	}
	code := q.Get("code")
	if code == "" {
		return "", errors.New("oauth: authorization response has no code")
	}
	RegisterSecret(code)
	return code, nil
}

// exchangeCode redeems the authorization code with the PKCE verifier and resource.
func exchangeCode(ctx context.Context, hc *http.Client, d *Discovery, client ClientRegistration, code, redirectURI, verifier string, now func() time.Time) (*Token, error) {
	const op = "token exchange"
	form := url.Values{}
	form.Set("grant_type", "authorization_code")
	form.Set("code", code)
	form.Set("redirect_uri", redirectURI)
	form.Set("code_verifier", verifier)
	form.Set("resource", d.Resource)
	resp, err := postForm(ctx, hc, d.Metadata.TokenEndpoint, form, client)
	if err != nil {
		return nil, transportError(op, err)
	}
	if resp.Status != http.StatusOK {
		return nil, statusError(op, resp, now)
	}
	return parseTokenResponse(op, resp, now(), d.Scopes)
}
