package gateway

import (
	"context"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// routes builds the gateway's mux.
func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/servers/{ns}/{name}/mcp", g.serveServer)
	mux.HandleFunc("/servers/{ns}/{name}/mcp/sse-endpoint/{rest...}", g.serveServer)
	mux.Handle("/mcp", g.aggregateHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return mux
}

// requestInfo travels with a request from the gate through the upstream transport, for
// metrics and the access log.
type requestInfo struct {
	start  time.Time
	caller string
	server types.NamespacedName
	// credential is the caller's UpstreamCredential whose token went upstream (PerSubject
	// servers): whose upstream account acted, for the access log.
	credential string
	// addedObserved is set once the gateway-added latency was recorded (first upstream attempt).
	addedObserved bool
	// retried is set when the request was retried after a 401.
	retried bool
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// serverFromPath reads and validates the namespace and name of a per-server route.
func serverFromPath(r *http.Request) (types.NamespacedName, bool) {
	nn := types.NamespacedName{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
	if len(validation.IsDNS1123Label(nn.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(nn.Name)) > 0 {
		return nn, false
	}
	return nn, true
}

// serveServer is the per-server pass-through: check the method, authenticate, authorize, gate
// on readiness, keep only what MCP needs of the request, forward.
func (g *Gateway) serveServer(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	ri := &requestInfo{start: time.Now()}
	ctx := withRequestInfo(r.Context(), ri)
	r = r.WithContext(ctx)
	defer func() { g.observeRequest(r, sw, ri, "server") }()

	if refuseMethod(sw, r) {
		return
	}
	nn, ok := serverFromPath(r)
	if !ok {
		writeRPCError(sw, http.StatusNotFound, nil, CodeNotFound, "not an UpstreamServer path: use /servers/<namespace>/<name>/mcp", nil, 0)
		return
	}
	id, ok := g.authenticate(sw, r)
	if !ok {
		return
	}
	ri.caller = id.Name
	if !g.authorize(sw, r, id, nn) {
		return
	}
	ri.server = nn
	rpcID, ok := g.bufferBody(sw, r)
	if !ok {
		return
	}
	us, ok := g.gate(sw, r, nn, rpcID)
	if !ok {
		return
	}
	h, ok := g.pick(sw, r, id, us, rpcID)
	if !ok {
		return
	}
	ri.credential = h.credentialName()
	out, ok := g.outbound(sw, r, id, us)
	if !ok {
		return
	}
	g.up.proxy(g.observeEndpoints(sw, r, id, us), out, h)
}

// statusWriter remembers the status code; Unwrap lets the reverse proxy flush through it. It
// is the last writer before the caller, so it also removes what an upstream must never set
// for the caller (stripUpstreamResponseHeaders), whatever path the answer took.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	stripUpstreamResponseHeaders(s.ResponseWriter.Header())
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client at once (event streams).
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observeRequest records metrics and the access log line of one request. It never logs a
// header or a query string: they may carry tokens or session capabilities.
func (g *Gateway) observeRequest(r *http.Request, sw *statusWriter, ri *requestInfo, route string) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	server := ""
	if ri.server.Name != "" {
		server = ri.server.String()
	}
	requests.WithLabelValues(server, route, statusLabel(status)).Inc()
	g.log.Info("Served gateway request", "caller", ri.caller, "server", server, "credential", ri.credential, "route", route,
		"method", r.Method, "status", status, "retried", ri.retried, "duration", time.Since(ri.start).Round(time.Millisecond))
}
