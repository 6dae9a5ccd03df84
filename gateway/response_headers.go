package gateway

import "net/http"

// upstreamOnlyResponseHeaders are answer headers that must not reach the caller. A cookie set
// by an upstream would be scoped to the gateway's origin, shared by every server behind it and
// by every caller of the same client: the gateway speaks for the caller with the server's
// credentials, so upstream session state lives in Mcp-Session-Id, never in a cookie.
var upstreamOnlyResponseHeaders = []string{"Set-Cookie", "Set-Cookie2"}

// stripUpstreamResponseHeaders removes from an upstream's answer what must not reach the
// caller. statusWriter (routes.go), the last writer before the caller, calls it on every
// answer's headers; the reverse proxy's modifyResponse calls it on the upstream's headers and
// trailers, so no code after it sees them either.
func stripUpstreamResponseHeaders(h http.Header) {
	for _, k := range upstreamOnlyResponseHeaders {
		h.Del(k)
	}
}
