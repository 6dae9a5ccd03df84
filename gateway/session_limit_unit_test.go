package gateway

import (
	"errors"
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
	r.Header.Set("Content-Type", "application/json")
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

// A body cut short is taken for a session (conservatively), and the SDK still sees it fail:
// a Content-Length body fails once, then reads as a clean end.
func TestNewSessionRequestKeepsABodysReadError(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "http://gateway/mcp", io.MultiReader(strings.NewReader(`{"method":"ping"}`), &onceFailing{}))
	r.Header.Set("Content-Type", "application/json")
	if !newSessionRequest(r) {
		t.Fatal("a body that failed to read was not taken for a new session")
	}
	if _, err := io.ReadAll(r.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the SDK reads the body with error %v, want %v", err, io.ErrUnexpectedEOF)
	}
}

// A body that is not JSON is left to the SDK, which refuses it without opening a session.
func TestNewSessionRequestLeavesOtherContentTypes(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "http://gateway/mcp", strings.NewReader(`{"method":"initialize"}`))
	r.Header.Set("Content-Type", "text/plain")
	if newSessionRequest(r) {
		t.Fatal("a text/plain body was taken for a new session")
	}
}

// onceFailing fails its first read with io.ErrUnexpectedEOF and then ends, as net/http's body
// of a connection closed before its Content-Length.
type onceFailing struct{ failed bool }

func (o *onceFailing) Read([]byte) (int, error) {
	if o.failed {
		return 0, io.EOF
	}
	o.failed = true
	return 0, io.ErrUnexpectedEOF
}
