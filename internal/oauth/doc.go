// Package oauth is an MCP authorization client following the MCP authorization
// specification, revision 2025-11-25.
//
// It discovers how an MCP server is protected (RFC 9728 protected resource
// metadata, RFC 8414 / OpenID Connect authorization server metadata), obtains a
// client identity (pre-registered, Client ID Metadata Document, or RFC 7591
// dynamic registration), runs the authorization code flow with PKCE (S256),
// RFC 8707 resource indicators and RFC 9207 issuer identification through a
// loopback callback, and refreshes and revokes tokens.
//
// The package never refreshes in the background and never persists anything:
// every function returns what the caller must store (tokens, registrations).
// It imports nothing from Kubernetes so the controller and the CLI share it.
//
// Every log line, error string and event text produced here passes through
// Redact, and every flow carries a correlation ID in its context.
package oauth
