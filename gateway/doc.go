// Package gateway is the MCP gateway served by the manager: workloads in the cluster use the
// remote MCP servers the controller keeps authorized without ever holding their tokens.
//
// Routes (one HTTP listener, --gateway-bind-address):
//
//	/servers/<namespace>/<name>/mcp   pass-through to one UpstreamServer: Streamable HTTP POST,
//	                                  GET event streams and DELETE, or the legacy SSE transport
//	                                  (spec.transport: sse), streamed as it comes.
//	/servers/<namespace>/<name>/mcp/sse-endpoint/<path>
//	                                  a legacy SSE message endpoint on another path than the SSE
//	                                  stream's, as rewritten into the stream's endpoint event.
//	/mcp                              one MCP server whose tools are those of every Ready
//	                                  UpstreamServer the caller may use, named
//	                                  <namespace>.<server>.<tool> (see ToolName).
//
// Callers present a Kubernetes bearer token (a projected ServiceAccount token). It is checked
// with a TokenReview, and the caller must be allowed the verb `use` on the UpstreamServer
// (group mcp.mcpproxy.dev, resource upstreamservers) by a SubjectAccessReview. Both answers are
// cached briefly. The caller's Authorization header never reaches the upstream; the upstream's
// token never reaches the caller.
//
// A server with spec.credentialMode PerSubject holds no token: each caller acts upstream as
// the person whose login one of its UpstreamCredentials holds. Once `use` is allowed, the
// caller's TokenReview identity selects the credential among those of the server (same
// namespace, spec.serverRef.name): a subject naming the caller (a User equal to the user name,
// a ServiceAccount ns/name for system:serviceaccount:ns:name) wins over a Group subject
// naming one of its groups; among equals the oldest (creationTimestamp, then name) wins. A
// caller may pick another of its own with the request header
//
//	Mcp-Credential: NAME[, NAMESPACE/NAME ...]
//
// (CredentialHeader): on the pass-through every entry is meant for that server, so it must
// name exactly one credential of the server bound to the caller, or the request is refused
// with 403 (data.reason CredentialRefused); on /mcp, read from the initialize request for the
// whole session, the entry naming one of a server's credentials applies to that server and
// the others are left to the default rule. The header is never forwarded. That credential's
// token (its own store record) is injected exactly like a server's, only to the spec URL's
// origin; a 401 asks the credential's reconciler to refresh it. A caller with no credential,
// or whose credential needs a login, gets a JSON-RPC error (CodeAuthorizationRequired, data
// reason NoCredential or the credential's) whose message and data.loginCommand carry the
// command for that caller, such as `mcpproxy auth login github -n team-a --for
// serviceaccount/team-a/agent` (for a credential it has, with --credential NAME); data.credential
// names the credential. /mcp lists a PerSubject server's tools only to callers whose selected
// credential is Ready: the gateway opens one session per credential in use, with its token,
// lists its tools, and keeps them while that credential's login, the server's target and the
// credential are unchanged (a refresh keeps them, a new login replaces them), within the
// catalog's timeouts and bounds (at most 512 such sessions). Tool calls go through the
// session of the caller's credential as it is selected at the time of the call.
//
// The pass-through forwards only what MCP needs, so a caller cannot use it to make the manager
// speak other HTTP (policy.go): only POST, GET and DELETE (others get 405); only the MCP
// headers of the caller (Accept, Content-Type, Mcp-Session-Id, MCP-Protocol-Version,
// Last-Event-ID, User-Agent, trace context); only to the path of spec.url with spec.url's own
// query, the caller's query being dropped, except on a legacy SSE message URL the gateway
// handed that caller in an endpoint event; and only to a server the controller has connected
// to for its current spec (Connected=True at the current generation), static-header and public
// servers included. An upstream's Set-Cookie never reaches the caller.
//
// Limits: one identity holds at most Options.MaxSessionsPerIdentity sessions on /mcp (429
// beyond, until one ends). Rejected tokens are cached apart from good answers, and TokenReviews
// of tokens no cache knows are rate-limited per client address and in total (429 with
// Retry-After), so junk tokens cost the API server little and never evict a good answer.
//
// The gateway never refreshes a token. When an upstream rejects the current token, it asks the
// reconciler to refresh that revision in process (Options.Refresher, an upstream.RefreshRequest),
// waits a bounded time for the store to announce a new revision (tokenstore.Store.WaitNewer),
// and retries the request once.
package gateway
