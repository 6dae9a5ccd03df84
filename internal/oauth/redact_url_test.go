package oauth

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://mcp.example.com/mcp":                             "https://mcp.example.com/mcp",
		"https://alice:hunter2@mcp.example.com/mcp":               "https://" + Redacted + "@mcp.example.com/mcp",
		"https://mcp.example.com/mcp?api_key=sk-live-1&region=eu": "https://mcp.example.com/mcp?api_key=" + Redacted + "&region=eu",
		"https://mcp.example.com/mcp?X-Amz-Signature=abc&x=1":     "https://mcp.example.com/mcp?X-Amz-Signature=" + Redacted + "&x=1",
		"https://mcp.example.com/mcp?Key=abc":                     "https://mcp.example.com/mcp?Key=" + Redacted,
		"http://127.0.0.1:9000/mcp#frag":                          "http://127.0.0.1:9000/mcp#" + Redacted,
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// An API key travels in headers and query strings under a handful of names; each is hidden.
func TestRedactAPIKeys(t *testing.T) {
	for in, leaked := range map[string]string{
		"GET /mcp?api_key=sk-abc123 HTTP/1.1": "sk-abc123",
		"X-Api-Key: sk-abc123":                "sk-abc123",
		`{"api_key": "sk-abc123"}`:            "sk-abc123",
		"apikey=sk-abc123&x=1":                "sk-abc123",
	} {
		got := Redact(in)
		if leaked != "" && strings.Contains(got, leaked) {
			t.Errorf("Redact(%q) = %q: the key is still there", in, got)
		}
	}
}

// The set of remembered secrets follows what is live: a replaced token is forgotten, so a
// manager refreshing thousands of tokens never pushes a live one out.
func TestRedactorForgetsReplacedValues(t *testing.T) {
	r := NewRedactor()
	r.Add("old-token-1234", "live-token-5678", "odd secret with spaces")
	r.Forget("old-token-1234", "odd secret with spaces")
	if got := r.Redact("old-token-1234 live-token-5678 odd secret with spaces"); got != "old-token-1234 "+Redacted+" odd secret with spaces" {
		t.Fatalf("Redact = %q", got)
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (the live token; its escaped form is the same)", r.Len())
	}
}
