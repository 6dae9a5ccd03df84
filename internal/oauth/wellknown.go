package oauth

import (
	"fmt"
	"net/url"
	"strings"
)

// canonicalURL returns raw as a canonical URI (MCP spec, RFC 8707): lower-case scheme
// and host, no default port, no fragment, no trailing slash.
func canonicalURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("parsing URL %q: %w", Redact(raw), err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("URL %q must be absolute http(s)", Redact(raw))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	u.User = nil
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// resourceCovers reports whether the protected resource metadata's resource identifies
// serverURL: the same canonical URI, or the same origin with a path that is a
// segment-wise prefix of the server's path. RFC 9728 §3.3 makes a document served at the
// root well-known URL describe the origin, so an origin-wide resource must be accepted.
func resourceCovers(resource, serverURL string) bool {
	cr, err1 := canonicalURL(resource)
	cs, err2 := canonicalURL(serverURL)
	if err1 != nil || err2 != nil {
		return false
	}
	if cr == cs {
		return true
	}
	ur, _ := url.Parse(cr)
	us, _ := url.Parse(cs)
	if ur.Scheme != us.Scheme || ur.Host != us.Host || ur.RawQuery != "" {
		return false
	}
	return ur.Path == "" || strings.HasPrefix(us.Path, ur.Path+"/")
}

// originAndPath splits raw into "scheme://host" and its path without trailing slash.
func originAndPath(raw string) (origin, path string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("parsing URL %q: %w", Redact(raw), err)
	}
	if u.Scheme == "" || u.Host == "" {
		return "", "", fmt.Errorf("URL %q is not absolute", Redact(raw))
	}
	return u.Scheme + "://" + u.Host, strings.TrimRight(u.EscapedPath(), "/"), nil
}

// protectedResourceCandidates lists RFC 9728 well-known URLs for serverURL in the order
// the MCP spec prescribes: path-inserted first, then the root.
func protectedResourceCandidates(serverURL string) ([]string, error) {
	origin, path, err := originAndPath(serverURL)
	if err != nil {
		return nil, err
	}
	const wk = "/.well-known/oauth-protected-resource"
	if path == "" {
		return []string{origin + wk}, nil
	}
	return []string{origin + wk + path, origin + wk}, nil
}

// authServerCandidates lists metadata URLs for issuer in the order the MCP spec
// prescribes: RFC 8414 path insertion, OIDC path insertion, OIDC path appending; for an
// issuer without a path, the RFC 8414 and OIDC documents at the root.
func authServerCandidates(issuer string) ([]string, error) {
	origin, path, err := originAndPath(issuer)
	if err != nil {
		return nil, err
	}
	const oauthWK, oidcWK = "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"
	if path == "" {
		return []string{origin + oauthWK, origin + oidcWK}, nil
	}
	return []string{origin + oauthWK + path, origin + oidcWK + path, origin + path + oidcWK}, nil
}

// legacyMetadata returns the 2025-03-26 default endpoints at the root of serverURL, used
// when a server publishes no metadata at all.
func legacyMetadata(serverURL string) (AuthServerMetadata, error) {
	origin, _, err := originAndPath(serverURL)
	if err != nil {
		return AuthServerMetadata{}, err
	}
	return AuthServerMetadata{
		Issuer:                origin,
		AuthorizationEndpoint: origin + "/authorize",
		TokenEndpoint:         origin + "/token",
		RegistrationEndpoint:  origin + "/register",
		// No metadata means nothing is advertised; the flow always uses S256 anyway.
		CodeChallengeMethodsSupported: []string{"S256"},
	}, nil
}
