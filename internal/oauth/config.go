package oauth

import (
	"net/http"

	"github.com/go-logr/logr"
)

// Config describes one MCP server and how the client identifies itself to its
// authorization server.
type Config struct {
	// ServerURL is the MCP endpoint, e.g. https://mcp.example.com/mcp.
	ServerURL string
	// ClientID and ClientSecret are a pre-registered client; they take priority over
	// every other way of obtaining a client identity.
	ClientID, ClientSecret string
	// ClientMetadataURL is an https URL of a Client ID Metadata Document, used as the
	// client ID when the authorization server supports it.
	ClientMetadataURL string
	// Scopes overrides scope selection when non-empty.
	Scopes []string
	// Resource overrides the RFC 8707 resource indicator; by default it is the protected
	// resource metadata's resource, else the canonical ServerURL.
	Resource string
	// AuthorizationServer is an issuer URL that skips protected resource metadata discovery.
	AuthorizationServer string
	// ExtraParams are added to the authorization request (e.g. audience, prompt); they
	// cannot replace the parameters the flow itself sets.
	ExtraParams map[string]string
	// HTTPClient is used for every request; nil means a default client with timeouts.
	// Whatever client is given, each request is bounded by a timeout, bodies are capped
	// and redirects to other hosts are not followed.
	HTTPClient *http.Client
	// Logger receives progress lines, always redacted and tagged with the correlation ID.
	Logger logr.Logger
	// Challenge, when set, is the status and WWW-Authenticate header of a request the MCP
	// server refused after it let initialize through without a token (servers that authorize
	// per method). Discovery starts from it instead of probing with initialize, whose answer
	// would say no authorization is needed.
	Challenge *LaterChallenge
}

// LaterChallenge is a 401 or 403 an MCP server answered to a request after initialize.
type LaterChallenge struct {
	Status int
	Header http.Header
}
