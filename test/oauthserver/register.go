package oauthserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
)

// registrationRequest is the RFC 7591 client metadata we honour.
type registrationRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
}

// registrationResponse is the RFC 7591 §3.2.1 answer: the metadata as
// stored plus the credentials.
type registrationResponse struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	registrationRequest
}

func registrationError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

// handleRegister serves dynamic client registration (RFC 7591). Omitting
// token_endpoint_auth_method means client_secret_basic, as the RFC says,
// so a client that wants to be public must ask for "none".
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		registrationError(w, "invalid_client_metadata", "Content-Type must be application/json")
		return
	}
	var req registrationRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		registrationError(w, "invalid_client_metadata", "body is not valid client metadata JSON")
		return
	}
	if code, desc := s.checkRegistration(&req); code != "" {
		registrationError(w, code, desc)
		return
	}
	resp := s.registerClient(req)
	s.opts.Logger.Info("Registered client", "clientID", resp.ClientID, "authMethod", resp.TokenEndpointAuthMethod)
	writeJSON(w, http.StatusCreated, resp)
}

// checkRegistration validates the metadata and fills in the RFC 7591
// defaults, so that the response echoes what the client will be held to.
// It returns an RFC 7591 error code and description, or an empty code.
func (s *Server) checkRegistration(req *registrationRequest) (code, desc string) {
	if len(req.RedirectURIs) == 0 {
		return "invalid_redirect_uri", "redirect_uris is required"
	}
	for _, ru := range req.RedirectURIs {
		u, err := url.Parse(ru)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return "invalid_redirect_uri", "redirect URIs must be absolute and without fragment"
		}
	}
	if req.TokenEndpointAuthMethod == "" {
		req.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if !slices.Contains(authMethods, req.TokenEndpointAuthMethod) {
		return "invalid_client_metadata", "unsupported token_endpoint_auth_method"
	}
	if len(req.GrantTypes) == 0 {
		req.GrantTypes = []string{"authorization_code"}
	}
	for _, gt := range req.GrantTypes {
		if gt != "authorization_code" && gt != "refresh_token" {
			return "invalid_client_metadata", "unsupported grant type " + gt
		}
	}
	for _, rt := range req.ResponseTypes {
		if rt != "code" {
			return "invalid_client_metadata", "unsupported response type " + rt
		}
	}
	for _, sc := range splitScopes(req.Scope) {
		if !slices.Contains(s.opts.Scopes, sc) {
			return "invalid_client_metadata", "unknown scope " + sc
		}
	}
	return "", ""
}

// registerClient stores a client for validated metadata. A secret's
// client_secret_expires_at of 0 tells the client it never expires (RFC 7591
// §3.2.1), so it will not try to re-register.
func (s *Server) registerClient(req registrationRequest) registrationResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &client{
		id:           randomToken("client")[:30],
		redirectURIs: slices.Clone(req.RedirectURIs),
		authMethod:   req.TokenEndpointAuthMethod,
	}
	resp := registrationResponse{ClientID: c.id, ClientIDIssuedAt: s.now().Unix(), registrationRequest: req}
	if c.authMethod != "none" {
		c.secret = s.newSecretLocked("secret")
		resp.ClientSecret = c.secret
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	s.clients[c.id] = c
	s.stats.Registrations++
	return resp
}
