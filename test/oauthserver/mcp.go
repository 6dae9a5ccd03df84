package oauthserver

import (
	"context"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"net/http"
)

// identity is who called, as proven by the access token.
type identity struct {
	// Subject is the user the token was issued to.
	Subject  string   `json:"subject"`
	ClientID string   `json:"clientId,omitempty"`
	Scopes   []string `json:"scopes"`
}

type identityKey struct{}

// newMCPHandlers builds the Streamable HTTP and SSE handlers. Each session
// gets its own mcp.Server that remembers the identity that opened it: the
// SSE transport does not pass token info to tools, the streamable one does.
func (s *Server) newMCPHandlers() (streamable, sse http.Handler) {
	getServer := func(r *http.Request) *mcp.Server {
		id, _ := r.Context().Value(identityKey{}).(identity)
		return s.newMCPServer(id)
	}
	return mcp.NewStreamableHTTPHandler(getServer, nil), mcp.NewSSEHandler(getServer, nil)
}

type echoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo back"`
}

type timeResult struct {
	Time string `json:"time" jsonschema:"the server's current time, RFC 3339"`
}

// newMCPServer returns a server with the echo, whoami and get_time tools.
// opened is the identity that opened the session.
func (s *Server) newMCPServer(opened identity) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "oauthserver", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Returns its text argument."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "Returns the user the token was issued to (as text), and its subject, client and scopes (structured); needs scope " + s.opts.WhoamiScope + "."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, identity, error) {
			id := opened
			// Prefer the token of this very request: it may carry other
			// scopes than the one that opened the session.
			if req.Extra != nil && req.Extra.TokenInfo != nil {
				ti := req.Extra.TokenInfo
				id = identity{Subject: ti.UserID, Scopes: ti.Scopes}
				id.ClientID, _ = ti.Extra["client_id"].(string)
			}
			// The text is the bare user name, so a test that sees only text content (through
			// a proxy, say) can compare it as is.
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: id.Subject}}}, id, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_time", Description: "Returns the server's current time."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, timeResult, error) {
			return nil, timeResult{Time: s.now().UTC().Format(time.RFC3339Nano)}, nil
		})
	return srv
}

// sdkAuth hands our already verified identity to the SDK, which binds each
// session to its user and passes TokenInfo to tools. Expiry was checked
// against the injected clock, so the SDK's wall-clock check is off.
var sdkAuth = auth.RequireBearerToken(
	func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		id, ok := r.Context().Value(identityKey{}).(identity)
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: id.Subject, Scopes: id.Scopes, Extra: map[string]any{"client_id": id.ClientID}}, nil
	},
	&auth.RequireBearerTokenOptions{AllowMissingExpiration: true},
)
