package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// upstreams sends requests to UpstreamServers with the server's credentials instead of the
// caller's, and recovers once from a token the upstream rejected early.
type upstreams struct {
	g *Gateway
	// base is a netguard.Transport (SetEgress): it attaches the credentials attempt hands it
	// only to the spec URL's origin, and dials only what the egress policy allows.
	base    http.RoundTripper
	rp      *httputil.ReverseProxy
	headers *ttlCache[string, http.Header]
	records *records

	mu sync.Mutex
	// requested remembers the last refresh asked for per token holder (holder.mark), so a
	// burst of 401s asks once.
	requested map[string]refreshMark
	// rejected is the revision per token holder the upstream kept rejecting after a bounded
	// wait: the gate no longer counts it as usable, so later calls fail fast with the status'
	// reason.
	rejected map[string]uint64
	// endpoints are legacy SSE message paths learned from endpoint events, per server.
	endpoints map[types.NamespacedName]map[string]struct{}
}

type refreshMark struct {
	rev uint64
	at  time.Time
}

// upstreamHolderKey carries the holder of a proxied request from proxy to the transport.
type upstreamHolderKey struct{}

func holderFrom(ctx context.Context) (holder, bool) {
	h, ok := ctx.Value(upstreamHolderKey{}).(holder)
	return h, ok
}

func newUpstreams(g *Gateway) *upstreams {
	u := &upstreams{g: g, base: newBaseTransport(), headers: newTTLCache[string, http.Header](10*time.Second, 1024),
		records:   newRecords(g.opts.Store),
		requested: map[string]refreshMark{}, rejected: map[string]uint64{},
		endpoints: map[types.NamespacedName]map[string]struct{}{}}
	u.rp = &httputil.ReverseProxy{
		Rewrite:        u.rewrite,
		Transport:      proxyTransport{u},
		FlushInterval:  -1,
		ModifyResponse: u.modifyResponse,
		ErrorHandler:   u.proxyError,
		BufferPool:     copyBuffers{},
	}
	return u
}

// copyBuffers lends the reverse proxy the buffers it copies answers through: without a pool
// it allocates 32 KiB for every answer.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *copyBufferPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { copyBufferPool.Put(&b) }

// newBaseTransport is the gateway's transport until SetEgress gives it the manager's: the
// binary's default egress policy, credentials only to their bound origin, every phase but the
// body bounded (an answer may be a long-lived event stream).
func newBaseTransport() http.RoundTripper {
	return netguard.NewTransport(netguard.Default(), netguard.TransportOptions{
		ResponseHeaderTimeout: 60 * time.Second, MaxIdleConnsPerHost: 64,
	})
}

// usable reports whether rec holds an unexpired access token the upstream has not kept rejecting.
func (u *upstreams) usable(h holder, rec *tokenstore.Record, now time.Time) bool {
	return upstream.TokenUsable(rec, now) && !u.isRejected(h, rec.Revision)
}

func (u *upstreams) isRejected(h holder, rev uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, ok := u.rejected[h.mark()]
	return ok && r == rev
}

func (u *upstreams) markRejected(h holder, rev uint64) {
	u.mu.Lock()
	u.rejected[h.mark()] = rev
	u.mu.Unlock()
}

// proxy forwards r to h's server through the reverse proxy, with h's token.
func (u *upstreams) proxy(w http.ResponseWriter, r *http.Request, h holder) {
	if rest := r.PathValue("rest"); rest != "" && !u.endpointKnown(h.server(), "/"+rest) {
		writeRPCError(w, http.StatusNotFound, requestRPCID(r), CodeNotFound,
			"Unknown SSE message endpoint: open the server's event stream first", nil, 0)
		return
	}
	u.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), upstreamHolderKey{}, h)))
}

// rewrite points the outgoing request at the server's URL and removes the caller's credentials.
func (u *upstreams) rewrite(pr *httputil.ProxyRequest) {
	h, _ := holderFrom(pr.In.Context())
	us := h.us
	target, err := url.Parse(us.Spec.URL)
	if err != nil {
		return // validated by the API server; the transport reports the failure
	}
	if rest := pr.In.PathValue("rest"); rest != "" {
		target.Path, target.RawPath = "/"+rest, ""
	}
	if pr.In.URL.RawQuery != "" {
		target.RawQuery = pr.In.URL.RawQuery
	}
	pr.Out.URL = target
	pr.Out.Host = ""
	stripCallerCredentials(pr.Out.Header)
}

// hasCallerCredentials reports whether h carries what stripCallerCredentials removes.
func hasCallerCredentials(h http.Header) bool {
	return len(h["Authorization"]) > 0 || len(h["Proxy-Authorization"]) > 0 || len(h["Cookie"]) > 0
}

// stripCallerCredentials removes what authenticates the caller to the gateway.
func stripCallerCredentials(h http.Header) {
	h.Del("Authorization")
	h.Del("Proxy-Authorization")
	h.Del("Cookie")
}

// proxyTransport sends the reverse proxy's requests to the server of their context.
type proxyTransport struct{ u *upstreams }

func (t proxyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, _ := holderFrom(req.Context())
	return t.u.send(req, h)
}

// boundTransport sends the requests of one catalog session, bound to the server's target
// (transport and URL) the session was dialled for and, for a PerSubject server, to the
// credential (by UID) it was dialled with. The server and credential are read afresh each
// time, for a rotated token or Secret; once the spec names another target, or the credential
// is gone or replaced, the session's requests (its closing DELETE included) go out without any
// credential: the current ones are not its own.
type boundTransport struct {
	u      *upstreams
	nn     types.NamespacedName
	target string // target(us) when the session was dialled
	// cred and credUID name the credential of a PerSubject server's session; "" otherwise.
	cred    string
	credUID types.UID
}

func (t boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	us, err := t.u.g.server(req.Context(), t.nn)
	if err != nil {
		return fail(fmt.Errorf("reading UpstreamServer %s: %w", t.nn, err))
	}
	if target(us) != t.target {
		return t.u.base.RoundTrip(req)
	}
	if t.cred == "" {
		return t.u.send(req, serverHolder(us))
	}
	cred, err := t.u.g.credential(req.Context(), types.NamespacedName{Namespace: t.nn.Namespace, Name: t.cred})
	switch {
	case apierrors.IsNotFound(err):
		return t.u.base.RoundTrip(req)
	case err != nil:
		return fail(fmt.Errorf("reading UpstreamCredential %s/%s: %w", t.nn.Namespace, t.cred, err))
	case cred.UID != t.credUID || !cred.DeletionTimestamp.IsZero() || !perSubject(us):
		return t.u.base.RoundTrip(req)
	}
	return t.u.send(req, holder{us: us, cred: cred})
}

// modifyResponse keeps the upstream's authentication challenges from the caller and rewrites
// the legacy SSE endpoint event to point at the gateway.
func (u *upstreams) modifyResponse(resp *http.Response) error {
	// First, so nothing after this sees an upstream's cookie (a trailer included).
	stripUpstreamResponseHeaders(resp.Header)
	stripUpstreamResponseHeaders(resp.Trailer)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		resp.Header.Del("WWW-Authenticate")
	}
	req := resp.Request
	h, _ := holderFrom(req.Context())
	if us := h.us; us != nil && us.Spec.Transport == mcpv1alpha1.TransportSSE && req.Method == http.MethodGet &&
		strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		base := *req.URL
		resp.Body = newEndpointRewriter(resp.Body, func(data string) string {
			return u.rewriteEndpoint(us, &base, data)
		})
	}
	return nil
}

// proxyError answers a failed forward with a JSON-RPC error (or nothing when the caller left).
func (u *upstreams) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	server := ""
	if h, ok := holderFrom(r.Context()); ok && h.us != nil {
		server = h.server().String()
	}
	u.g.log.Info("Failed to reach an upstream", "server", server, "error", err.Error())
	writeRPCError(w, http.StatusBadGateway, requestRPCID(r), CodeBadGateway,
		fmt.Sprintf("The gateway could not reach UpstreamServer %s", server), &rpcErrorData{Server: server}, 0)
}

// drain discards a small rest of a body so the connection can be reused, and closes it.
func drain(b io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, b, 64<<10)
	_ = b.Close()
}
