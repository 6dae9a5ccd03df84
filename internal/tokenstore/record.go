package tokenstore

import (
	"fmt"
	"log/slog"
	"time"
)

// ClientRegistration is the OAuth client a token was issued to. The secret
// is redacted whenever the value is formatted or logged.
type ClientRegistration struct {
	// ClientID is the OAuth client identifier.
	ClientID string
	// ClientSecret is the client secret; empty for public clients.
	ClientSecret string
	// AuthMethod is the token endpoint auth method, e.g. "client_secret_basic".
	AuthMethod string
	// RedirectURI is the redirect URI registered for the client.
	RedirectURI string
}

// Record is one server's OAuth state. The access token, refresh token and
// client secret are redacted whenever the value is formatted with fmt (any
// verb, including %#v) or logged through logr or slog.
type Record struct {
	// AccessToken is the current access token.
	AccessToken string
	// RefreshToken is the current refresh token; it may rotate on every use.
	RefreshToken string
	// TokenType is usually "Bearer".
	TokenType string
	// Expiry is when the access token expires; zero means unknown.
	Expiry time.Time
	// Scopes granted.
	Scopes []string
	// Client is the registration the token was issued to.
	Client ClientRegistration
	// Issuer is the authorization server's issuer identifier.
	Issuer string
	// TokenEndpoint is where the refresh token is spent.
	TokenEndpoint string
	// RevocationEndpoint is where tokens are revoked, if the server has one.
	RevocationEndpoint string
	// Resource is the RFC 8707 resource indicator.
	Resource string
	// ServerURL is the MCP server the token is for.
	ServerURL string
	// ObtainedAt is when the flow that produced the first token finished.
	ObtainedAt time.Time
	// RefreshedAt is when the token was last refreshed; zero if never.
	RefreshedAt time.Time
	// RefreshCount counts refreshes since ObtainedAt.
	RefreshCount int64
	// CorrelationID identifies the flow or reconcile that wrote the record.
	CorrelationID string
	// ObtainedBy is the Kubernetes user who handed the login over (verified by the
	// login-handover admission policy where it is installed); "" when unknown.
	ObtainedBy string
	// Revision is set by the store; 0 means never saved. Save ignores it and
	// uses its expectRevision argument instead.
	Revision uint64
}

// tokenState answers "is there a usable token" without handing out secrets.
type tokenState struct {
	// Present is true when a record is stored under the key (even if it
	// cannot be read; then Err is set).
	Present bool
	// Valid is true when an access token is present and its expiry is after
	// now or unknown.
	Valid bool
	// HasRefreshToken is true when a refresh token is present.
	HasRefreshToken bool
	// Expiry of the access token; zero if unknown.
	Expiry time.Time
	// Revision of the stored record; 0 if absent.
	Revision uint64
	// Err is set when the state could not be determined: a
	// *CorruptRecordError for an unreadable record, or a storage error.
	Err error
}

const redacted = "[REDACTED]"

// redact shows whether a secret is set without showing it.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// redactedClient is ClientRegistration with the secret replaced; it has no
// methods, so fmt prints it field by field.
type redactedClient struct {
	ClientID, ClientSecret, AuthMethod, RedirectURI string
}

func (c ClientRegistration) redacted() redactedClient {
	return redactedClient{c.ClientID, redact(c.ClientSecret), c.AuthMethod, c.RedirectURI}
}

// String renders the registration with the secret redacted.
func (c ClientRegistration) String() string { return fmt.Sprintf("%+v", c.redacted()) }

// GoString renders the registration for %#v with the secret redacted.
func (c ClientRegistration) GoString() string {
	return fmt.Sprintf("tokenstore.ClientRegistration%+v", c.redacted())
}

// Format implements fmt.Formatter so that every verb redacts the secret.
func (c ClientRegistration) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, c.redacted(), c.GoString())
}

// MarshalLog implements logr.Marshaler.
func (c ClientRegistration) MarshalLog() any { return c.redacted() }

// LogValue implements slog.LogValuer.
func (c ClientRegistration) LogValue() slog.Value { return slog.AnyValue(c.redacted()) }

// redactedRecord is Record with secrets replaced; it has no methods.
type redactedRecord struct {
	AccessToken, RefreshToken, TokenType string
	Expiry                               time.Time
	Scopes                               []string
	Client                               redactedClient
	Issuer, TokenEndpoint                string
	RevocationEndpoint, Resource         string
	ServerURL                            string
	ObtainedAt, RefreshedAt              time.Time
	RefreshCount                         int64
	CorrelationID                        string
	Revision                             uint64
}

func (r Record) redacted() redactedRecord {
	return redactedRecord{
		AccessToken: redact(r.AccessToken), RefreshToken: redact(r.RefreshToken), TokenType: r.TokenType,
		Expiry: r.Expiry, Scopes: r.Scopes, Client: r.Client.redacted(),
		Issuer: r.Issuer, TokenEndpoint: r.TokenEndpoint, RevocationEndpoint: r.RevocationEndpoint,
		Resource: r.Resource, ServerURL: r.ServerURL, ObtainedAt: r.ObtainedAt, RefreshedAt: r.RefreshedAt,
		RefreshCount: r.RefreshCount, CorrelationID: r.CorrelationID, Revision: r.Revision,
	}
}

// String renders the record with secrets redacted.
func (r Record) String() string { return fmt.Sprintf("%+v", r.redacted()) }

// GoString renders the record for %#v with secrets redacted.
func (r Record) GoString() string { return fmt.Sprintf("tokenstore.Record%+v", r.redacted()) }

// Format implements fmt.Formatter so that every verb redacts secrets.
func (r Record) Format(f fmt.State, verb rune) { formatRedacted(f, verb, r.redacted(), r.GoString()) }

// MarshalLog implements logr.Marshaler.
func (r Record) MarshalLog() any { return r.redacted() }

// LogValue implements slog.LogValuer.
func (r Record) LogValue() slog.Value { return slog.AnyValue(r.redacted()) }

// formatRedacted prints the redacted copy v with the caller's verb and flags;
// %#v uses goString because v's type name is internal.
func formatRedacted(f fmt.State, verb rune, v any, goString string) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, goString)
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), v)
}
