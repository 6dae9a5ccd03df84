// Package oauthserver is a strict, scriptable OAuth 2.1 authorization
// server and an OAuth-protected MCP server in one process, for tests and
// demos of MCP clients. It imports nothing else of this repository.
//
// Start one from a test:
//
//	srv := oauthserver.New(oauthserver.Options{AutoApprove: true})
//	if err := srv.Start("127.0.0.1:0"); err != nil { ... }
//	defer srv.Close()
//	// srv.Issuer(), srv.MCPURL(), srv.FollowAuthorize(authURL) ...
//
// or run it: go run ./test/oauthserver/cmd/server -port 9000.
//
// Authorization server, under Issuer() (URL() plus Options.IssuerPath):
//
//   - metadata (RFC 8414, and the same document as OIDC discovery) at
//     /.well-known/oauth-authorization-server{path} and
//     /.well-known/openid-configuration{path}, path-inserted only;
//   - /authorize: code flow, PKCE S256 required, state echoed, iss in the
//     redirect (RFC 9207), exact redirect URI match except any port on
//     loopback (RFC 8252), resource (RFC 8707) bound to the grant, a consent
//     page or Options.AutoApprove;
//   - /token: authorization_code (single use; a replay revokes the grant)
//     and refresh_token (rotated each use; a replayed rotated token revokes
//     the grant unless within Options.RefreshReuseGrace), client auth
//     client_secret_basic, client_secret_post or none; access tokens are
//     ES256 JWTs with aud, scope, exp, client_id, sub, jti;
//   - /register (RFC 7591), /revoke (RFC 7009), /jwks.
//
// Users: a grant, and every token refreshed from it, belongs to the user
// the authorization request's login_hint names (OIDC), or the one typed
// into the consent page's user field, else Options.Subject; the tokens'
// sub says who, and so does the whoami tool.
//
// Resource server: /mcp (Streamable HTTP) and /sse (legacy SSE), built
// with the official MCP Go SDK, tools echo, whoami (needs
// Options.WhoamiScope; its text is the token's user, its structured
// content subject, clientId and scopes) and get_time. Requests need a
// valid token for that URL; failures get 401 or 403 with a Bearer
// challenge naming the protected resource metadata (RFC 9728), whose
// location Options.PRMMode chooses.
//
// Scripting: FailNextTokenRequests, RevokeAll, SetMCPOutage, Reset; and
// observing: Stats (also per user), IssuedSecrets. The same are served
// under /admin/ to loopback clients. FollowAuthorize and FollowAuthorizeAs
// play the browser. Logs never contain tokens, codes or secrets.
//
// Every expiry decision reads Options.Now, so tests can move time.
package oauthserver
