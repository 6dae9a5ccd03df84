package mcpconn

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrForbidden means the server refused the session's credentials with 403, typically
// insufficient_scope: a step-up login can fix it.
var ErrForbidden = errors.New("the MCP server refused the credentials (HTTP 403)")

// ChallengeError is a 401 or 403 an MCP server answered, with its WWW-Authenticate header:
// a refusal after initialize (servers that authorize per method) carries what discovery and
// a step-up need. It unwraps to ErrUnauthorized or ErrForbidden.
type ChallengeError struct {
	// Method is the JSON-RPC method that was refused ("tools/list"), when known.
	Method string
	Status int
	Header http.Header
}

func (e *ChallengeError) Error() string {
	return fmt.Sprintf("%s: %v", e.Method, e.Unwrap())
}

// Unwrap is ErrUnauthorized for a 401 and ErrForbidden for a 403.
func (e *ChallengeError) Unwrap() error {
	if e.Status == http.StatusForbidden {
		return ErrForbidden
	}
	return ErrUnauthorized
}
