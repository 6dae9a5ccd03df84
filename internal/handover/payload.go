// Package handover defines the login hand-over payload that `mcpproxy auth login` (or the
// controller's own browser login) produces and the reconciler ingests. It is JSON inside a Secret
// of type mcpproxy.dev/login; this package knows nothing of Secrets.
package handover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Version is the payload format version written by this binary.
const Version = 1

// maxPayload bounds what Decode accepts, so a hostile Secret cannot exhaust memory.
const maxPayload = 64 << 10

// ErrInvalid is wrapped by every validation failure of Decode.
var ErrInvalid = errors.New("invalid login hand-over")

// Client is the OAuth client registration used for the login.
type Client struct {
	ClientID     string `json:"clientID"`
	ClientSecret string `json:"clientSecret,omitempty"`
	AuthMethod   string `json:"authMethod,omitempty"`
	RedirectURI  string `json:"redirectURI,omitempty"`
}

// Payload is the result of a login, ready to be stored.
type Payload struct {
	Version            int       `json:"version"`
	ServerURL          string    `json:"serverURL"`
	Issuer             string    `json:"issuer,omitempty"`
	Resource           string    `json:"resource,omitempty"`
	TokenEndpoint      string    `json:"tokenEndpoint,omitempty"`
	RevocationEndpoint string    `json:"revocationEndpoint,omitempty"`
	AccessToken        string    `json:"accessToken"`
	RefreshToken       string    `json:"refreshToken,omitempty"`
	TokenType          string    `json:"tokenType,omitempty"`
	Expiry             time.Time `json:"expiry,omitempty"`
	Scopes             []string  `json:"scopes,omitempty"`
	Client             Client    `json:"client"`
	CorrelationID      string    `json:"correlationID,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
}

// Encode serialises the payload.
func (p Payload) Encode() ([]byte, error) {
	p.Version = Version
	return json.Marshal(p)
}

// String never shows a secret.
func (p Payload) String() string {
	return fmt.Sprintf("handover{server=%s issuer=%s scopes=%v expiry=%s hasRefreshToken=%t correlationID=%s}",
		p.ServerURL, p.Issuer, p.Scopes, p.Expiry.Format(time.RFC3339), p.RefreshToken != "", p.CorrelationID)
}

// GoString never shows a secret.
func (p Payload) GoString() string { return p.String() }

// Decode parses and validates a payload. Errors describe what is wrong and never echo a value.
func Decode(data []byte) (*Payload, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrInvalid)
	}
	if len(data) > maxPayload {
		return nil, fmt.Errorf("%w: payload larger than %d bytes", ErrInvalid, maxPayload)
	}
	var p Payload
	if err := json.Unmarshal(data, &p); err != nil {
		// json errors may quote input; say only where it failed.
		return nil, fmt.Errorf("%w: payload is not valid JSON", ErrInvalid)
	}
	if p.Version != Version {
		return nil, fmt.Errorf("%w: unsupported version %d (want %d)", ErrInvalid, p.Version, Version)
	}
	if p.AccessToken == "" {
		return nil, fmt.Errorf("%w: no access token", ErrInvalid)
	}
	if p.TokenType != "" && !strings.EqualFold(p.TokenType, "bearer") {
		return nil, fmt.Errorf("%w: token type %q is not Bearer", ErrInvalid, p.TokenType)
	}
	if u, err := url.Parse(p.ServerURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: serverURL is not an absolute URL", ErrInvalid)
	}
	if p.RefreshToken != "" && p.TokenEndpoint == "" {
		return nil, fmt.Errorf("%w: a refresh token without a token endpoint cannot be used", ErrInvalid)
	}
	if p.RefreshToken != "" && p.Client.ClientID == "" {
		return nil, fmt.Errorf("%w: a refresh token without a client ID cannot be used", ErrInvalid)
	}
	return &p, nil
}
