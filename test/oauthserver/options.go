package oauthserver

import (
	"io"
	"log/slog"
	"time"
)

// PRMMode says where the protected resource metadata (RFC 9728) is served,
// so tests can make a client walk each discovery path.
type PRMMode int

const (
	// PRMWellKnownPath serves the metadata at
	// /.well-known/oauth-protected-resource/mcp (path-suffixed, the default).
	PRMWellKnownPath PRMMode = iota
	// PRMRoot serves it only at /.well-known/oauth-protected-resource.
	PRMRoot
	// PRMHeaderOnly serves it only at a non-well-known path that clients can
	// learn solely from the WWW-Authenticate header.
	PRMHeaderOnly
)

// String names the mode as the -prm flag spells it.
func (m PRMMode) String() string {
	switch m {
	case PRMRoot:
		return "root"
	case PRMHeaderOnly:
		return "header"
	default:
		return "path"
	}
}

// Options configure a Server. The zero value is a strict server with
// consent pages, dynamic client registration, rotating refresh tokens and
// authentication on /mcp.
type Options struct {
	// IssuerPath, e.g. "/tenant1", puts the issuer and its endpoints under a
	// path, so clients must use path-insertion metadata discovery.
	IssuerPath string
	// BaseURL is the external base URL, e.g. http://oauth.test.svc:9000 when
	// clients reach the server through a name. Default: http://<listen
	// address> after Start. Needed when you serve Handler yourself.
	BaseURL string
	// AccessTokenTTL is the lifetime of access tokens (default 1h).
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of each refresh token (default 30 days).
	RefreshTokenTTL time.Duration
	// RefreshReuseGrace is how long a rotated refresh token still works
	// (answering with the grant's current refresh token) before a replay
	// counts as theft and revokes the grant. Zero means no grace.
	RefreshReuseGrace time.Duration
	// TokenDelay slows every token answer by this much wall-clock time, so
	// refreshes racing for one grant overlap and show in
	// Stats.MaxConcurrentRefreshes.
	TokenDelay time.Duration
	// NoRefreshToken stops the token endpoint from issuing refresh tokens.
	NoRefreshToken bool
	// NoRotation keeps the same refresh token across refreshes.
	NoRotation bool
	// AutoApprove answers /authorize with an immediate redirect instead of
	// a consent page, logging in the user the login_hint parameter names, or
	// Subject.
	AutoApprove bool
	// NoDCR disables /register (it answers 404 and is not advertised).
	NoDCR bool
	// NoAuth makes /mcp and /sse public: no token needed.
	NoAuth bool
	// AllowMissingResource lets an authorization request omit the RFC 8707
	// resource parameter, binding the grant to the MCP URL. Without it, such
	// grants get tokens whose audience is the issuer, which /mcp rejects.
	AllowMissingResource bool
	// Clients pre-registers clients, client ID to secret; an empty secret
	// makes a public client. Pre-registered clients may use any loopback
	// redirect URI and any of RedirectURIs.
	Clients map[string]string
	// RedirectURIs are extra redirect URIs allowed for pre-registered clients.
	RedirectURIs []string
	// Scopes are the scopes supported (default mcp, profile, offline_access).
	Scopes []string
	// RequiredScope is needed for every MCP request (default "mcp").
	RequiredScope string
	// WhoamiScope is needed to call the whoami tool (default "profile").
	WhoamiScope string
	// Subject is the user a grant is issued to when the authorization request names none
	// (no login_hint; on the consent page, the user field's initial value) (default
	// "test-user").
	Subject string
	// PRMMode says where protected resource metadata is served.
	PRMMode PRMMode
	// HideResourceMetadata leaves resource_metadata out of WWW-Authenticate
	// challenges, so clients must probe the well-known URLs. It is ignored
	// in PRMHeaderOnly mode, where the header is the only way.
	HideResourceMetadata bool
	// OpenInitialize lets a request without a token open an MCP session (initialize and
	// the initialized notification); every later request needs one. Some servers authorize
	// per method like this, so a client meets the challenge only after initialize.
	OpenInitialize bool
	// AdminAnyHost serves /admin/ to any client, not only loopback ones;
	// for a server in a container that tests drive from outside.
	AdminAnyHost bool
	// Now is the clock used for every expiry decision (default time.Now).
	Now func() time.Time
	// Logger receives request logs; it never sees a secret (default: discard).
	Logger *slog.Logger
}

// withDefaults fills in the documented defaults.
func (o Options) withDefaults() Options {
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = time.Hour
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if o.RequiredScope == "" {
		o.RequiredScope = "mcp"
	}
	if o.WhoamiScope == "" {
		o.WhoamiScope = "profile"
	}
	if len(o.Scopes) == 0 {
		o.Scopes = []string{o.RequiredScope, o.WhoamiScope, "offline_access"}
	}
	if o.Subject == "" {
		o.Subject = "test-user"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}
