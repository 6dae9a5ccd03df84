package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ClientRegistration is a client identity at one authorization server. The caller
// persists it keyed by Issuer and passes it back to EnsureClient or Login.
type ClientRegistration struct {
	// ClientID is the client identifier (a URL for Client ID Metadata Documents).
	ClientID string
	// ClientSecret is empty for public clients.
	ClientSecret string
	// AuthMethod is the token endpoint auth method: client_secret_basic, client_secret_post or none.
	AuthMethod string
	// RedirectURI is the redirect URI registered with (or used for) this client.
	RedirectURI string
	// Issuer is the authorization server this identity belongs to.
	Issuer string
	// Source says how the identity was obtained: "preregistered", "metadata-document" or "dynamic".
	Source string
}

// Client identity sources.
const (
	SourcePreregistered    = "preregistered"
	SourceMetadataDocument = "metadata-document"
	SourceDynamic          = "dynamic"
)

// clientName is the client_name sent in dynamic registrations.
const clientName = "mcpproxy-operator"

// EnsureClient returns a client identity for d's authorization server, in priority order:
// the pre-registered cfg.ClientID; a Client ID Metadata Document URL when the server
// supports them and one is configured; existing, when it belongs to the same issuer and
// redirect URI; a new RFC 7591 dynamic registration. Without any of these it returns
// ErrNoClientID.
func EnsureClient(ctx context.Context, cfg Config, d *Discovery, existing *ClientRegistration, redirectURI string) (*ClientRegistration, error) {
	ctx, _ = ensureCorrelationID(ctx)
	log := flowLogger(ctx, cfg.Logger)
	if d == nil || d.Issuer == "" {
		return nil, errors.New("oauth: EnsureClient needs a discovery with an issuer")
	}
	md := d.Metadata
	if cfg.ClientID != "" {
		RegisterSecret(cfg.ClientSecret)
		return &ClientRegistration{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURI: redirectURI, Issuer: d.Issuer,
			AuthMethod: pickAuthMethod(md.TokenEndpointAuthMethodsSupported, cfg.ClientSecret != ""),
			Source:     SourcePreregistered,
		}, nil
	}
	if cfg.ClientMetadataURL != "" && md.ClientIDMetadataDocumentSupported {
		if u, err := url.Parse(cfg.ClientMetadataURL); err != nil || u.Scheme != "https" || u.Path == "" || u.Path == "/" {
			return nil, fmt.Errorf("oauth: client metadata URL %q must be an https URL with a path: %w", Redact(cfg.ClientMetadataURL), ErrNoClientID)
		}
		return &ClientRegistration{ClientID: cfg.ClientMetadataURL, AuthMethod: AuthMethodNone,
			RedirectURI: redirectURI, Issuer: d.Issuer, Source: SourceMetadataDocument}, nil
	}
	if existing != nil && existing.ClientID != "" && existing.Issuer == d.Issuer &&
		(existing.RedirectURI == "" || existing.RedirectURI == redirectURI) {
		RegisterSecret(existing.ClientSecret)
		reused := *existing
		reused.RedirectURI = redirectURI
		log.V(1).Info("Reused client registration", "issuer", d.Issuer, "clientID", reused.ClientID)
		return &reused, nil
	}
	if md.RegistrationEndpoint == "" {
		return nil, fmt.Errorf("oauth: authorization server %s supports neither dynamic client registration nor client ID metadata documents (or none is configured); set a client ID: %w", d.Issuer, ErrNoClientID)
	}
	reg, err := register(ctx, cfg.HTTPClient, d, redirectURI)
	if err != nil {
		if d.Legacy {
			// The guessed /register endpoint does not exist: a person must configure a client.
			var oe *Error
			if errors.As(err, &oe) && (oe.Status == http.StatusNotFound || oe.Status == http.StatusMethodNotAllowed) {
				return nil, fmt.Errorf("oauth: %s has no registration endpoint, set a client ID: %w", d.Issuer, ErrNoClientID)
			}
		}
		return nil, err
	}
	log.Info("Registered client", "issuer", d.Issuer, "clientID", reg.ClientID, "authMethod", reg.AuthMethod)
	return reg, nil
}

// pickAuthMethod chooses a token endpoint auth method the server advertises. RFC 8414:
// an absent list means client_secret_basic only.
func pickAuthMethod(supported []string, hasSecret bool) string {
	if !hasSecret {
		return AuthMethodNone
	}
	if len(supported) == 0 || contains(supported, AuthMethodBasic) {
		return AuthMethodBasic
	}
	if contains(supported, AuthMethodPost) {
		return AuthMethodPost
	}
	return AuthMethodBasic
}

// registrationMethod is the method requested at registration: none unless the server
// advertises a list that lacks it.
func registrationMethod(supported []string) string {
	if len(supported) == 0 || contains(supported, AuthMethodNone) {
		return AuthMethodNone
	}
	if contains(supported, AuthMethodBasic) {
		return AuthMethodBasic
	}
	if contains(supported, AuthMethodPost) {
		return AuthMethodPost
	}
	return AuthMethodNone
}

// register performs RFC 7591 dynamic client registration as a native application.
func register(ctx context.Context, hc *http.Client, d *Discovery, redirectURI string) (*ClientRegistration, error) {
	const op = "client registration"
	if err := checkSecureEndpoint("registration endpoint", d.Metadata.RegistrationEndpoint); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	method := registrationMethod(d.Metadata.TokenEndpointAuthMethodsSupported)
	reqBody := map[string]any{
		"client_name":                clientName,
		"redirect_uris":              []string{redirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": method,
		"application_type":           "native",
	}
	if len(d.Scopes) > 0 {
		reqBody["scope"] = strings.Join(d.Scopes, " ")
	}
	buf, _ := json.Marshal(reqBody)
	req, err := http.NewRequest(http.MethodPost, d.Metadata.RegistrationEndpoint, bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("oauth: building registration request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := do(ctx, hc, req)
	if err != nil {
		return nil, transportError(op, err)
	}
	if resp.Status != http.StatusCreated && resp.Status != http.StatusOK {
		return nil, statusError(op, resp, nil)
	}
	reg, err := decodeRegistration(resp.Body)
	if err != nil {
		return nil, &Error{Op: op, Code: "malformed_response", Status: resp.Status, Description: cleanDescription(err.Error())}
	}
	reg.RedirectURI, reg.Issuer, reg.Source = redirectURI, d.Issuer, SourceDynamic
	if reg.AuthMethod == "" {
		reg.AuthMethod = method
		if reg.ClientSecret != "" && method == AuthMethodNone {
			reg.AuthMethod = pickAuthMethod(d.Metadata.TokenEndpointAuthMethodsSupported, true)
		}
	}
	return reg, nil
}

// decodeRegistration reads an RFC 7591 response, tolerating members of unexpected types
// (real servers send e.g. a jwks object or numeric timestamps as strings).
func decodeRegistration(body []byte) (*ClientRegistration, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	reg := &ClientRegistration{
		ClientID:     lenientString(obj["client_id"]),
		ClientSecret: lenientString(obj["client_secret"]),
		AuthMethod:   lenientString(obj["token_endpoint_auth_method"]),
	}
	RegisterSecret(reg.ClientSecret, lenientString(obj["registration_access_token"]))
	if reg.ClientID == "" {
		return nil, fmt.Errorf("%w: registration response has no client_id", ErrMalformedMetadata)
	}
	switch reg.AuthMethod {
	case "", AuthMethodBasic, AuthMethodPost, AuthMethodNone:
	default:
		// Methods this client cannot perform (private_key_jwt, ...) fall back to what the
		// secret allows.
		reg.AuthMethod = ""
	}
	return reg, nil
}

// String describes the registration without its secret, so a stray %v cannot leak it.
func (c ClientRegistration) String() string {
	return fmt.Sprintf("ClientRegistration{clientID=%s issuer=%s authMethod=%s source=%s redirectURI=%s secret=%s}",
		c.ClientID, c.Issuer, c.AuthMethod, c.Source, c.RedirectURI, presence(c.ClientSecret))
}

// GoString is String, also for %#v.
func (c ClientRegistration) GoString() string { return c.String() }
