package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Only an initialize opens a session; anything the gateway cannot be sure of counts as one.
func TestOpensSession(t *testing.T) {
	for name, c := range map[string]struct {
		body string
		want bool
	}{
		"initialize":                    {`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, true},
		"escaped initialize":            {`{"jsonrpc":"2.0","id":1,"method":"initiali\u007ae"}`, true},
		"discover":                      {`{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}`, false},
		"ping":                          {`{"jsonrpc":"2.0","id":1,"method":"ping"}`, false},
		"initialize behind a duplicate": {`{"jsonrpc":"2.0","id":1,"method":"ping","method":"initialize"}`, true},
		"initialize under another case": {`{"jsonrpc":"2.0","id":1,"Method":"initialize","method":"ping"}`, true},
		"method not a string":           {`{"jsonrpc":"2.0","id":1,"method":["initialize"]}`, true},
		"batch":                         {`[{"jsonrpc":"2.0","id":1,"method":"initialize"}]`, true},
		"no method":                     {`{"jsonrpc":"2.0","id":1,"result":{}}`, true},
		"not JSON":                      {`initialize`, true},
		"truncated":                     {`{"jsonrpc":"2.0","method":"ping","params":{`, true},
	} {
		if got := opensSession([]byte(c.body)); got != c.want {
			t.Errorf("%s: opensSession(%s) = %v, want %v", name, c.body, got, c.want)
		}
	}
}

// Peeking at the body leaves it whole for the SDK.
func TestNewSessionRequestKeepsTheBody(t *testing.T) {
	const body = `{"jsonrpc":"2.0","id":1,"method":"server/discover"}`
	r, _ := http.NewRequest(http.MethodPost, "http://gateway/mcp", strings.NewReader(body))
	if newSessionRequest(r) {
		t.Fatal("a server/discover was taken for a new session")
	}
	if got, _ := io.ReadAll(r.Body); string(got) != body {
		t.Fatalf("the SDK reads %q, want %q", got, body)
	}
	r.Header.Set("Mcp-Session-Id", "abc")
	if newSessionRequest(r) {
		t.Fatal("a request with a session id was taken for a new session")
	}
}
