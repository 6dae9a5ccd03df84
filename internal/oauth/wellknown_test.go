package oauth

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestResourceCovers(t *testing.T) {
	tests := []struct {
		resource, server string
		want             bool
	}{
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp", true},
		{"HTTPS://MCP.example.com:443/mcp/", "https://mcp.example.com/mcp", true},
		{"https://mcp.example.com", "https://mcp.example.com/mcp", true},
		{"https://mcp.example.com/a", "https://mcp.example.com/a/b", true},
		{"https://mcp.example.com/a", "https://mcp.example.com/ab", false},
		{"https://mcp.example.com/mcp", "https://mcp.example.com", false},
		{"http://mcp.example.com/mcp", "https://mcp.example.com/mcp", false},
		{"https://mcp.example.com:8443/mcp", "https://mcp.example.com/mcp", false},
		{"https://evil.example/mcp", "https://mcp.example.com/mcp", false},
		{"not a url", "https://mcp.example.com/mcp", false},
	}
	for _, tc := range tests {
		if got := resourceCovers(tc.resource, tc.server); got != tc.want {
			t.Errorf("resourceCovers(%q, %q) = %v, want %v", tc.resource, tc.server, got, tc.want)
		}
	}
}

func TestWellKnownCandidates(t *testing.T) {
	got, _ := protectedResourceCandidates("https://h.example/public/mcp/?x=1")
	if want := []string{"https://h.example/.well-known/oauth-protected-resource/public/mcp",
		"https://h.example/.well-known/oauth-protected-resource"}; !reflect.DeepEqual(got, want) {
		t.Errorf("protected resource candidates = %v", got)
	}
	got, _ = authServerCandidates("https://auth.example/tenant1/")
	if want := []string{"https://auth.example/.well-known/oauth-authorization-server/tenant1",
		"https://auth.example/.well-known/openid-configuration/tenant1",
		"https://auth.example/tenant1/.well-known/openid-configuration"}; !reflect.DeepEqual(got, want) {
		t.Errorf("issuer-path candidates = %v", got)
	}
	got, _ = authServerCandidates("https://auth.example")
	if want := []string{"https://auth.example/.well-known/oauth-authorization-server",
		"https://auth.example/.well-known/openid-configuration"}; !reflect.DeepEqual(got, want) {
		t.Errorf("root candidates = %v", got)
	}
}

func TestCheckSecureEndpoint(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://as.example/token":  true,
		"http://127.0.0.1:8080/t":   true,
		"http://[::1]:8080/t":       true,
		"http://localhost/t":        true,
		"http://as.example/token":   false,
		"http://10.0.0.1/token":     false,
		"/token":                    false,
		"ftp://as.example/token":    false,
		"http://127.0.0.1.nip.io/t": false,
	} {
		err := checkSecureEndpoint("token endpoint", raw)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrInsecureEndpoint)) {
			t.Errorf("checkSecureEndpoint(%q) = %v", raw, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"":     0,
		"12":   12 * time.Second,
		"-3":   0,
		"soon": 0,
		"1.5":  0,
		fixedNow.Add(time.Minute).Format("Mon, 02 Jan 2006 15:04:05 GMT"):  time.Minute,
		fixedNow.Add(-time.Minute).Format("Mon, 02 Jan 2006 15:04:05 GMT"): 0,
	} {
		if got := parseRetryAfter(v, fixedNow); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestTokenExpiresWithin(t *testing.T) {
	if (Token{}).ExpiresWithin(fixedNow, time.Hour) {
		t.Error("unknown expiry must not count as expiring")
	}
	tok := Token{Expiry: fixedNow.Add(5 * time.Minute)}
	if !tok.ExpiresWithin(fixedNow, 5*time.Minute) || tok.ExpiresWithin(fixedNow, time.Minute) {
		t.Error("ExpiresWithin boundary wrong")
	}
}
