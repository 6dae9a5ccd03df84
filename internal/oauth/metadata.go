package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrMalformedMetadata reports a metadata document that cannot be used.
var ErrMalformedMetadata = errors.New("oauth: malformed metadata document")

// ProtectedResourceMetadata is the subset of RFC 9728 metadata the client uses.
type ProtectedResourceMetadata struct {
	// Resource is the protected resource's identifier.
	Resource string
	// AuthorizationServers lists issuer identifiers of authorization servers.
	AuthorizationServers []string
	// ScopesSupported lists scopes the resource understands.
	ScopesSupported []string
}

// AuthServerMetadata is the subset of RFC 8414 / OpenID Connect discovery metadata the
// client uses.
type AuthServerMetadata struct {
	// Issuer is the authorization server's issuer identifier.
	Issuer string
	// AuthorizationEndpoint is where the browser is sent.
	AuthorizationEndpoint string
	// TokenEndpoint exchanges codes and refresh tokens.
	TokenEndpoint string
	// RegistrationEndpoint accepts RFC 7591 dynamic registration; empty when unsupported.
	RegistrationEndpoint string
	// RevocationEndpoint accepts RFC 7009 revocation; empty when unsupported.
	RevocationEndpoint string
	// ScopesSupported lists scopes the server advertises.
	ScopesSupported []string
	// CodeChallengeMethodsSupported lists PKCE methods; it must include S256.
	CodeChallengeMethodsSupported []string
	// TokenEndpointAuthMethodsSupported lists client authentication methods at the token endpoint.
	TokenEndpointAuthMethodsSupported []string
	// GrantTypesSupported lists grant types; empty means the RFC 8414 default.
	GrantTypesSupported []string
	// ISSParameterSupported is RFC 9207 authorization_response_iss_parameter_supported.
	ISSParameterSupported bool
	// ClientIDMetadataDocumentSupported is client_id_metadata_document_supported.
	ClientIDMetadataDocumentSupported bool
}

// DecodeProtectedResourceMetadata decodes an RFC 9728 document, tolerating members of
// unexpected types. It fails when the JSON is not an object or "resource" is missing.
func DecodeProtectedResourceMetadata(data []byte) (*ProtectedResourceMetadata, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	m := &ProtectedResourceMetadata{
		Resource:             lenientString(obj["resource"]),
		AuthorizationServers: lenientStrings(obj["authorization_servers"]),
		ScopesSupported:      lenientStrings(obj["scopes_supported"]),
	}
	if m.Resource == "" {
		return nil, fmt.Errorf("%w: protected resource metadata has no resource", ErrMalformedMetadata)
	}
	return m, nil
}

// DecodeAuthServerMetadata decodes an RFC 8414 or OpenID Connect discovery document,
// tolerating members of unexpected types. It fails when the JSON is not an object or the
// issuer, authorization endpoint or token endpoint is missing.
func DecodeAuthServerMetadata(data []byte) (*AuthServerMetadata, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	m := &AuthServerMetadata{
		Issuer:                            lenientString(obj["issuer"]),
		AuthorizationEndpoint:             lenientString(obj["authorization_endpoint"]),
		TokenEndpoint:                     lenientString(obj["token_endpoint"]),
		RegistrationEndpoint:              lenientString(obj["registration_endpoint"]),
		RevocationEndpoint:                lenientString(obj["revocation_endpoint"]),
		ScopesSupported:                   lenientStrings(obj["scopes_supported"]),
		CodeChallengeMethodsSupported:     lenientStrings(obj["code_challenge_methods_supported"]),
		TokenEndpointAuthMethodsSupported: lenientStrings(obj["token_endpoint_auth_methods_supported"]),
		GrantTypesSupported:               lenientStrings(obj["grant_types_supported"]),
		ISSParameterSupported:             lenientBool(obj["authorization_response_iss_parameter_supported"]),
		ClientIDMetadataDocumentSupported: lenientBool(obj["client_id_metadata_document_supported"]),
	}
	switch {
	case m.Issuer == "":
		return nil, fmt.Errorf("%w: authorization server metadata has no issuer", ErrMalformedMetadata)
	case m.AuthorizationEndpoint == "":
		return nil, fmt.Errorf("%w: authorization server metadata has no authorization_endpoint", ErrMalformedMetadata)
	case m.TokenEndpoint == "":
		return nil, fmt.Errorf("%w: authorization server metadata has no token_endpoint", ErrMalformedMetadata)
	}
	return m, nil
}

// SupportsS256 reports whether PKCE S256 is advertised.
func (m AuthServerMetadata) SupportsS256() bool {
	return contains(m.CodeChallengeMethodsSupported, "S256")
}

// decodeObject decodes a JSON object into raw members.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedMetadata, err)
	}
	if obj == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformedMetadata)
	}
	return obj, nil
}

// lenientString returns a JSON string member, or a number's text; anything else is "".
func lenientString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// lenientStrings returns a JSON array of strings (non-strings dropped) or splits a
// space-separated string, as some servers send scopes that way.
func lenientStrings(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var out []string
		for _, item := range list {
			var s string
			if json.Unmarshal(item, &s) == nil && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Fields(s)
	}
	return nil
}

// lenientBool accepts true/false and the strings "true"/"false".
func lenientBool(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		v, _ := strconv.ParseBool(s)
		return v
	}
	return false
}

// lenientInt64 accepts a JSON number or numeric string; ok is false otherwise.
func lenientInt64(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return clampInt64(f), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(n) {
			return clampInt64(n), true
		}
	}
	return 0, false
}

// clampInt64 converts f to int64 without the undefined overflow of a plain conversion.
func clampInt64(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// contains reports whether list holds v.
func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
