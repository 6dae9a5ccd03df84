package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// The pass-through forwards only what MCP needs, so a caller allowed to `use` a server cannot
// make the gateway speak other HTTP to it (or, through it, to an internal address): only the
// methods of the Streamable HTTP and legacy SSE transports, only the headers they define, only
// to the path of spec.url with spec.url's own query, and to the SSE message URLs the server
// itself announced in an endpoint event.

// allowedMethods is what the transports use: POST (messages), GET (event streams), DELETE
// (ending a session).
const allowedMethods = "GET, POST, DELETE"

func methodAllowed(m string) bool {
	return m == http.MethodPost || m == http.MethodGet || m == http.MethodDelete
}

// forwardedRequestHeaders are the caller's headers that reach the upstream; every other one is
// dropped (for example Metadata-Flavor or X-aws-ec2-metadata-token, which cloud metadata
// services want, or anything a server could mistake for the gateway's own credentials).
var forwardedRequestHeaders = []string{
	"Accept", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-Id",
	"User-Agent", "Traceparent", "Tracestate",
}

// forwardedHeaders returns the subset of h that may reach the upstream.
func forwardedHeaders(h http.Header) http.Header {
	out := make(http.Header, len(forwardedRequestHeaders))
	for _, k := range forwardedRequestHeaders {
		if v := h.Values(k); len(v) > 0 {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

// refuseMethod answers 405 for a method the transports do not use.
func refuseMethod(w http.ResponseWriter, r *http.Request) bool {
	if methodAllowed(r.Method) {
		return false
	}
	w.Header().Set("Allow", allowedMethods)
	writeRPCError(w, http.StatusMethodNotAllowed, nil, CodeMethodNotAllowed,
		"The gateway forwards only POST, GET and DELETE to an MCP server", nil, 0)
	return true
}

// outbound returns the request as it may be forwarded to us: the allowed headers only, and
// the caller's query only on an SSE message URL the gateway handed this caller. Otherwise the
// query is dropped, so the upstream sees spec.url's own. An sse-endpoint path that was not
// handed out is refused here (404).
func (g *Gateway) outbound(w http.ResponseWriter, r *http.Request, id *Identity, us *mcpv1alpha1.UpstreamServer) (*http.Request, bool) {
	// A shallow copy: the reverse proxy clones it again, and only the header and the URL
	// change here (a whole Clone copied the caller's header only to drop it).
	out := r.WithContext(r.Context())
	u := *r.URL
	out.URL = &u
	out.Header = forwardedHeaders(r.Header)
	granted := g.grants.granted(id, us, r.URL)
	switch {
	case granted:
	case r.PathValue("rest") != "":
		writeRPCError(w, http.StatusNotFound, requestRPCID(r), CodeNotFound,
			"Unknown SSE message endpoint: open the server's event stream first", nil, 0)
		return nil, false
	default:
		out.URL.RawQuery, out.URL.ForceQuery = "", false
	}
	return out, true
}

// endpointGrants are the SSE message URLs (the gateway's path and the upstream's query, which
// carries the upstream's session) the gateway handed out in endpoint events, per caller and
// server. Only those URLs carry a caller's query upstream.
type endpointGrants struct {
	c *ttlCache[string, struct{}]
}

// grantTTL is how long an unused grant is kept; every message posted renews it. Legacy SSE
// sessions are long-lived, and an evicted grant only ends that session (404).
const grantTTL = 24 * time.Hour

func newEndpointGrants(size int) *endpointGrants {
	return &endpointGrants{c: newTTLCache[string, struct{}](grantTTL, size)}
}

func grantKey(id *Identity, us *mcpv1alpha1.UpstreamServer, u *url.URL) string {
	return strings.Join([]string{id.Name, id.UID, string(us.UID), u.EscapedPath(), u.RawQuery}, "\x00")
}

// grant remembers the gateway URL data (an endpoint event's rewritten data) for id and us; data
// outside the server's own gateway path is ignored.
func (e *endpointGrants) grant(id *Identity, us *mcpv1alpha1.UpstreamServer, data string) {
	u, err := url.Parse(data)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.EscapedPath(), gatewayPath(us)) {
		return
	}
	e.c.put(grantKey(id, us, u), struct{}{})
}

// granted reports whether u (a request's URL) was handed out to id for us, and renews it.
func (e *endpointGrants) granted(id *Identity, us *mcpv1alpha1.UpstreamServer, u *url.URL) bool {
	k := grantKey(id, us, u)
	if _, ok := e.c.get(k); !ok {
		return false
	}
	e.c.put(k, struct{}{})
	return true
}

// gatewayPath is the pass-through path of us.
func gatewayPath(us *mcpv1alpha1.UpstreamServer) string {
	nn := upstream.Name(us)
	return "/servers/" + nn.Namespace + "/" + nn.Name + "/mcp"
}
