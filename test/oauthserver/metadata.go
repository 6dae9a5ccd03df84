package oauthserver

import (
	"encoding/json"
	"net/http"
	"strings"
)

// writeJSON answers with a JSON body and no caching, as RFC 6749 §5.1
// requires of token responses and is harmless elsewhere.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Metadata returns the authorization server metadata (RFC 8414), the same
// document served at both well-known URLs.
func (s *Server) Metadata() map[string]any {
	iss := s.Issuer()
	m := map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"revocation_endpoint":                            iss + "/revoke",
		"jwks_uri":                                       iss + "/jwks",
		"scopes_supported":                               s.opts.Scopes,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          authMethods,
		"revocation_endpoint_auth_methods_supported":     authMethods,
		"authorization_response_iss_parameter_supported": true,
		// OIDC discovery requires these three; we sign no ID tokens, but
		// clients that read openid-configuration expect them present.
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	}
	if !s.opts.NoDCR {
		m["registration_endpoint"] = iss + "/register"
	}
	return m
}

// authMethods are the client authentication methods the token and
// revocation endpoints accept.
var authMethods = []string{"client_secret_basic", "client_secret_post", "none"}

func (s *Server) handleASMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Metadata())
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.signer.jwks())
}

// prmPath is where the protected resource metadata of the resource at path
// res ("/mcp" or "/sse") is served in the configured mode.
func (s *Server) prmPath(res string) string {
	switch s.opts.PRMMode {
	case PRMRoot:
		// The root document can describe one resource only; /sse gets the
		// header-only path so it stays discoverable.
		if res == "/mcp" {
			return "/.well-known/oauth-protected-resource"
		}
		return "/oauth/protected-resource" + res
	case PRMHeaderOnly:
		return "/oauth/protected-resource" + res
	default:
		return "/.well-known/oauth-protected-resource" + res
	}
}

// PRMURL is the URL of the protected resource metadata of /mcp.
func (s *Server) PRMURL() string { return s.URL() + s.prmPath("/mcp") }

// resourceMetadataParam is the resource_metadata value for challenges from
// res, or "" when the options hide it.
func (s *Server) resourceMetadataParam(res string) string {
	if s.opts.HideResourceMetadata && s.opts.PRMMode != PRMHeaderOnly &&
		!(s.opts.PRMMode == PRMRoot && res == "/sse") {
		return ""
	}
	return s.URL() + s.prmPath(res)
}

// resourceID is the resource identifier advertised for path res. The root
// metadata document describes the origin itself (RFC 9728 §3.3 requires
// the resource to match the URL the document was found from).
func (s *Server) resourceID(res string) string {
	if s.opts.PRMMode == PRMRoot && res == "/mcp" {
		return s.URL()
	}
	return s.URL() + res
}

// audienceOK reports whether a token for aud may call path res: the
// endpoint's own URL, or the origin when the root document advertises it.
func (s *Server) audienceOK(aud, res string) bool {
	return aud == s.URL()+res || (s.opts.PRMMode == PRMRoot && aud == s.URL())
}

// knownResource reports whether an RFC 8707 resource names something here.
func (s *Server) knownResource(r string) bool {
	return s.audienceOK(r, "/mcp") || s.audienceOK(r, "/sse")
}

func (s *Server) handlePRM(res string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSON(w, http.StatusOK, map[string]any{
			"resource":                 s.resourceID(res),
			"authorization_servers":    []string{s.Issuer()},
			"scopes_supported":         s.opts.Scopes,
			"bearer_methods_supported": []string{"header"},
			"resource_name":            "oauthserver test MCP server",
		})
	}
}

// joinScopes and splitScopes convert between the space-separated wire form
// and a list.
func joinScopes(s []string) string { return strings.Join(s, " ") }

func splitScopes(s string) []string { return strings.Fields(s) }
