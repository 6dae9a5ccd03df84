package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
)

// mcpProtocolVersion is the MCP revision whose authorization rules this package follows.
const mcpProtocolVersion = "2025-11-25"

// Discovery is what the client learned about how an MCP server is protected.
type Discovery struct {
	// NoAuthRequired is true when the server answered initialize without a token.
	NoAuthRequired bool
	// ServerURL is the MCP endpoint probed.
	ServerURL string
	// Resource is the RFC 8707 resource indicator sent in authorization and token requests.
	Resource string
	// ResourceMetadataURL is where the protected resource metadata came from; empty when
	// none was used (override or legacy fallback).
	ResourceMetadataURL string
	// ResourceScopes is the protected resource metadata's scopes_supported.
	ResourceScopes []string
	// Issuer is the authorization server's issuer identifier.
	Issuer string
	// ChallengeScopes is the scope of the 401 challenge, if any.
	ChallengeScopes []string
	// Scopes is the scope to request, chosen by the MCP selection strategy.
	Scopes []string
	// Metadata holds the authorization server's endpoints and capabilities.
	Metadata AuthServerMetadata
	// Legacy is true when no metadata existed and the 2025-03-26 default endpoints
	// (/authorize, /token, /register at the server's root) are used.
	Legacy bool
}

// Discover probes the MCP server without a token and discovers its authorization server.
// A server that answers without a token yields Discovery.NoAuthRequired and a nil error.
func Discover(ctx context.Context, cfg Config) (*Discovery, error) {
	ctx, _ = ensureCorrelationID(ctx)
	log := flowLogger(ctx, cfg.Logger)
	serverURL, err := canonicalURL(cfg.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: invalid server URL: %w", err)
	}
	d := &Discovery{ServerURL: cfg.ServerURL}

	probe, err := challengeOrProbe(ctx, cfg)
	if err != nil {
		return nil, &Error{Op: "probing MCP server", Err: err}
	}
	if probe.Status >= 200 && probe.Status < 300 {
		log.Info("Found server requires no authorization", "serverURL", Redact(cfg.ServerURL))
		d.NoAuthRequired = true
		return d, nil
	}
	challenge, hasChallenge := BearerChallenge(probe.Header)
	challenged := probe.Status == http.StatusUnauthorized || probe.Status == http.StatusForbidden
	if hasChallenge {
		d.ChallengeScopes = challenge.Scopes()
	}
	if probe.Status >= 500 || probe.Status == http.StatusTooManyRequests {
		return nil, statusError("probing MCP server", probe, nil)
	}

	// The resource indicator: configured, else the metadata's resource (below), else the
	// canonical server URL.
	d.Resource = serverURL
	if cfg.Resource != "" {
		d.Resource = cfg.Resource
	}
	issuer := strings.TrimSpace(cfg.AuthorizationServer)
	if issuer == "" {
		if issuer, err = resolveIssuer(ctx, cfg, d, challenge, challenged, probe.Status); err != nil {
			return nil, err
		}
	}

	md, err := authServerMetadata(ctx, cfg.HTTPClient, log, d, issuer)
	if err != nil {
		return nil, err
	}
	d.Issuer = md.Issuer
	d.Metadata = *md
	d.Scopes = chooseScopes(cfg.Scopes, d.ChallengeScopes, d.ResourceScopes, md.ScopesSupported)
	log.Info("Discovered authorization server", "serverURL", Redact(cfg.ServerURL), "issuer", d.Issuer,
		"resource", Redact(d.Resource), "scopes", strings.Join(d.Scopes, " "), "legacy", d.Legacy)
	return d, nil
}

// resolveIssuer reads the protected resource metadata, checks its resource against the
// expected one (d.Resource so far) and returns the first authorization server. Without any
// metadata a challenged server is its own authorization server (2025-03-26 behaviour).
func resolveIssuer(ctx context.Context, cfg Config, d *Discovery, challenge Challenge, challenged bool, status int) (string, error) {
	log := flowLogger(ctx, cfg.Logger)
	prm, prmURL, err := discoverResourceMetadata(ctx, cfg.HTTPClient, log, cfg.ServerURL, challenge.Param("resource_metadata"))
	switch {
	case errors.Is(err, ErrMetadataNotFound):
		if !challenged {
			return "", fmt.Errorf("oauth: server answered HTTP %d without an authorization challenge: %w", status, err)
		}
		origin, _, err := originAndPath(cfg.ServerURL)
		if err != nil {
			return "", fmt.Errorf("oauth: %w", err)
		}
		log.V(1).Info("Found no protected resource metadata, using the server's origin as issuer", "issuer", origin)
		return origin, nil
	case err != nil:
		return "", err
	}
	if !resourceCovers(prm.Resource, d.Resource) {
		return "", fmt.Errorf("oauth: metadata at %s names resource %q, expected %q: %w",
			Redact(prmURL), Redact(prm.Resource), Redact(d.Resource), ErrResourceMismatch)
	}
	if len(prm.AuthorizationServers) == 0 {
		return "", fmt.Errorf("oauth: protected resource metadata at %s lists no authorization server: %w", Redact(prmURL), ErrMetadataNotFound)
	}
	d.ResourceMetadataURL = prmURL
	d.ResourceScopes = prm.ScopesSupported
	if cfg.Resource == "" {
		d.Resource = prm.Resource
	}
	return prm.AuthorizationServers[0], nil
}

// authServerMetadata fetches and validates the issuer's metadata. The legacy default
// endpoints are a fallback only when no protected resource metadata was used either: a
// server that publishes resource metadata follows the current revision, so missing
// authorization server metadata there is an error, not a cue to guess endpoints.
func authServerMetadata(ctx context.Context, hc *http.Client, log logr.Logger, d *Discovery, issuer string) (*AuthServerMetadata, error) {
	md, err := discoverAuthServer(ctx, hc, log, issuer)
	switch {
	case errors.Is(err, ErrMetadataNotFound) && d.ResourceMetadataURL == "":
		// No metadata at all: 2025-03-26 default endpoints at the issuer's root.
		legacy, lerr := legacyMetadata(issuer)
		if lerr != nil {
			return nil, fmt.Errorf("oauth: %w", lerr)
		}
		md, d.Legacy = &legacy, true
		log.Info("Found no authorization server metadata, using default endpoints", "issuer", legacy.Issuer)
	case err != nil:
		return nil, err
	}
	if err := validateAuthServer(*md); err != nil {
		return nil, err
	}
	return md, nil
}

// validateAuthServer refuses servers without PKCE S256 or with insecure endpoints.
func validateAuthServer(md AuthServerMetadata) error {
	if !md.SupportsS256() {
		return fmt.Errorf("oauth: authorization server %s advertises code_challenge_methods_supported %v: %w",
			md.Issuer, md.CodeChallengeMethodsSupported, ErrPKCEUnsupported)
	}
	endpoints := []struct{ name, url string }{
		{"issuer", md.Issuer},
		{"authorization endpoint", md.AuthorizationEndpoint},
		{"token endpoint", md.TokenEndpoint},
		{"registration endpoint", md.RegistrationEndpoint},
		{"revocation endpoint", md.RevocationEndpoint},
	}
	for _, e := range endpoints {
		if e.url == "" {
			continue
		}
		if err := checkSecureEndpoint(e.name, e.url); err != nil {
			return fmt.Errorf("oauth: %w", err)
		}
	}
	return nil
}

// challengeOrProbe is the answer discovery starts from: a refusal the caller met after
// initialize, else the answer to an initialize sent without a token.
func challengeOrProbe(ctx context.Context, cfg Config) (*response, error) {
	if c := cfg.Challenge; c != nil && (c.Status == http.StatusUnauthorized || c.Status == http.StatusForbidden) {
		return &response{Status: c.Status, Header: c.Header}, nil
	}
	return probeServer(ctx, cfg.HTTPClient, cfg.ServerURL)
}

// probeServer sends an MCP initialize request without a token.
func probeServer(ctx context.Context, hc *http.Client, serverURL string) (*response, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + mcpProtocolVersion +
		`","capabilities":{},"clientInfo":{"name":"mcpproxy-operator","version":"1"}}}`
	req, err := http.NewRequest(http.MethodPost, serverURL, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building initialize request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := doStatus(ctx, hc, req)
	if err != nil || resp.Status >= 300 {
		return resp, err
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	// Some servers let initialize through and authorize per method: ask for the tool list
	// too, and start from its refusal if there is one.
	if later := afterInitialize(ctx, hc, serverURL, sid); later != nil {
		resp = later
	}
	if sid != "" {
		// Do not leave a session behind.
		if del, err := http.NewRequest(http.MethodDelete, serverURL, nil); err == nil {
			del.Header.Set("Mcp-Session-Id", sid)
			del.Header.Set("MCP-Protocol-Version", mcpProtocolVersion)
			_, _ = doStatus(ctx, hc, del)
		}
	}
	return resp, nil
}

// afterInitialize completes the session opened without a token and lists its tools; it
// returns the answer when the server refused (401 or 403), else nil.
func afterInitialize(ctx context.Context, hc *http.Client, serverURL, sid string) *response {
	var refused *response
	for _, msg := range []string{`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`} {
		req, err := http.NewRequest(http.MethodPost, serverURL, strings.NewReader(msg))
		if err != nil {
			return nil
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", mcpProtocolVersion)
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		resp, err := doStatus(ctx, hc, req)
		if err == nil && (resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden) {
			refused = resp
			break
		}
	}
	return refused
}
