package oauth

import (
	"errors"
	"reflect"
	"testing"
)

func TestDecodeAuthServerMetadataLenient(t *testing.T) {
	doc := `{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a","token_endpoint":"https://as.example/t",
	"scopes_supported":"mcp offline_access","code_challenge_methods_supported":["S256",7,null],
	"authorization_response_iss_parameter_supported":"true","client_id_metadata_document_supported":true,
	"token_endpoint_auth_methods_supported":{"weird":1}}`
	m, err := DecodeAuthServerMetadata([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.ScopesSupported, []string{"mcp", "offline_access"}) || !m.SupportsS256() ||
		!m.ISSParameterSupported || !m.ClientIDMetadataDocumentSupported || m.TokenEndpointAuthMethodsSupported != nil {
		t.Fatalf("decoded %+v", m)
	}
	for name, bad := range map[string]string{
		"not json":  `<html>`,
		"array":     `[]`,
		"null":      `null`,
		"no issuer": `{"authorization_endpoint":"a","token_endpoint":"t"}`,
		"no token":  `{"issuer":"i","authorization_endpoint":"a"}`,
	} {
		if _, err := DecodeAuthServerMetadata([]byte(bad)); !errors.Is(err, ErrMalformedMetadata) {
			t.Errorf("%s: err = %v, want ErrMalformedMetadata", name, err)
		}
	}
}

func TestDecodeProtectedResourceMetadata(t *testing.T) {
	m, err := DecodeProtectedResourceMetadata([]byte(`{"resource":"https://r/mcp","authorization_servers":["https://as"],"scopes_supported":["a",""]}`))
	if err != nil || m.Resource != "https://r/mcp" || m.AuthorizationServers[0] != "https://as" || len(m.ScopesSupported) != 1 {
		t.Fatalf("got %+v, %v", m, err)
	}
	if _, err := DecodeProtectedResourceMetadata([]byte(`{"authorization_servers":["x"]}`)); !errors.Is(err, ErrMalformedMetadata) {
		t.Fatalf("missing resource: err = %v", err)
	}
}

func TestDecodeRegistrationToleratesRealServers(t *testing.T) {
	// A jwks object where a string was expected, numeric strings, unknown auth methods.
	body := `{"client_id":12345,"client_secret":"s3cr3t-value","client_id_issued_at":"1700000000",
	"jwks":{"keys":[]},"jwks_uri":{"bad":true},"redirect_uris":"http://127.0.0.1/cb","token_endpoint_auth_method":"private_key_jwt"}`
	reg, err := decodeRegistration([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if reg.ClientID != "12345" || reg.ClientSecret != "s3cr3t-value" || reg.AuthMethod != "" {
		t.Fatalf("got %+v", reg)
	}
	if _, err := decodeRegistration([]byte(`{"client_secret":"x"}`)); err == nil {
		t.Fatal("registration without client_id accepted")
	}
}

func FuzzDecodeAuthServerMetadata(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://as","authorization_endpoint":"https://as/a","token_endpoint":"https://as/t","code_challenge_methods_supported":["S256"]}`))
	f.Add([]byte(`{"issuer":1,"scopes_supported":"a b","authorization_response_iss_parameter_supported":"yes"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeAuthServerMetadata(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedMetadata) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if m.Issuer == "" || m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
			t.Fatalf("accepted document without required members: %+v", m)
		}
		for _, s := range m.ScopesSupported {
			if s == "" {
				t.Fatal("empty scope decoded")
			}
		}
	})
}

func FuzzDecodeProtectedResourceMetadata(f *testing.F) {
	f.Add([]byte(`{"resource":"https://r/mcp","authorization_servers":["https://as"]}`))
	f.Add([]byte(`{"resource":["x"],"authorization_servers":"https://as"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeProtectedResourceMetadata(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedMetadata) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if m.Resource == "" {
			t.Fatal("accepted document without resource")
		}
	})
}

func FuzzDecodeRegistration(f *testing.F) {
	f.Add([]byte(`{"client_id":"abc","client_secret":"def","token_endpoint_auth_method":"client_secret_post"}`))
	f.Add([]byte(`{"client_id":1,"jwks":{"keys":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := decodeRegistration(data)
		if err == nil && reg.ClientID == "" {
			t.Fatal("accepted registration without client_id")
		}
	})
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"at-123456","refresh_token":"rt-123456","expires_in":3600,"scope":"a b"}`))
	f.Add([]byte(`{"access_token": "trunc`))
	f.Add([]byte(`{"access_token":"x","expires_in":"1e30"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := parseTokenResponse("fuzz", &response{Status: 200, Body: data}, fixedNow, nil)
		if err != nil {
			if !IsTransient(err) {
				t.Fatalf("malformed success body must be transient: %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.TokenType == "" {
			t.Fatalf("accepted token without access token or type: %+v", tok)
		}
		if !tok.Expiry.IsZero() && tok.Expiry.Before(fixedNow) {
			t.Fatalf("expiry in the past: %v", tok.Expiry)
		}
	})
}
