package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// send forwards req to h's server with h's token: the server's own, or the caller's
// credential's. When the upstream answers 401 to a token the store holds, it asks the
// reconciler owning the token for a refresh, waits a bounded time for a new token and sends
// the request once more (requests whose body was not kept are not retried).
func (u *upstreams) send(req *http.Request, h holder) (*http.Response, error) {
	rec, err := u.load(h)
	if err != nil {
		u.g.log.Error(err, "Failed to read the token store", "server", h.server().String(), "credential", h.credentialName())
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady,
			"The gateway could not read "+h.token()+"; try again", h.data(), 5*time.Second), nil
	}
	if upstream.TokenExpired(rec, time.Now()) {
		fresh, refused := u.replaceExpired(req, h, rec)
		if refused != nil {
			return refused, nil
		}
		rec = fresh
	}
	resp, err := u.attempt(req, h.us, rec)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	drain(resp.Body)
	if refused := u.refuseRetry(req, h, rec); refused != nil {
		return refused, nil
	}
	return u.retry(req, h, rec)
}

// replaceExpired waits for the token that replaces rec, which expired. It never forwards a
// token past its expiry (after a restart the store may hold one until the reconciler's first
// pass): the reconciler refreshes expired tokens by itself, so it is asked to look now, and the
// wait for the new revision is bounded. It returns the new record, or the answer to send.
func (u *upstreams) replaceExpired(req *http.Request, h holder, rec *tokenstore.Record) (*tokenstore.Record, *http.Response) {
	u.look(h)
	fresh := u.waitNewer(req.Context(), h, rec.Revision)
	if fresh != nil && !upstream.TokenExpired(fresh, time.Now()) {
		return fresh, nil
	}
	tokenRetries.WithLabelValues(h.server().String(), "expired").Inc()
	data := h.data()
	data.Reason = mcpv1alpha1.ReasonTokenExpired
	return nil, rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady, fmt.Sprintf(
		"The access token of %s expired and the controller has not refreshed it yet; try again", h.describe()),
		data, 2*time.Second)
}

// refuseRetry answers a 401 that must not be retried, or returns nil: no token is held, the
// token was waited for in vain before, refreshes are backing off, or the body was not kept.
func (u *upstreams) refuseRetry(req *http.Request, h holder, rec *tokenstore.Record) *http.Response {
	server := h.server().String()
	data := h.data()
	if rec == nil || rec.AccessToken == "" {
		u.look(h)
		return rpcErrorResponseFor(req, http.StatusBadGateway, CodeUpstreamRejected, fmt.Sprintf(
			"UpstreamServer %s asked for credentials the controller does not hold (%s); the controller was asked to look again",
			server, h.token()), data, 0)
	}
	if u.isRejected(h, rec.Revision) {
		// Waited for this token's replacement before, in vain: fail fast, ask again (deduplicated).
		u.requestRefresh(h, rec.Revision)
		tokenRetries.WithLabelValues(server, "still_rejected").Inc()
		return u.rejectedResponse(req, h)
	}
	if wait, ok := h.backingOff(time.Now()); ok {
		// Refreshes are failing and backing off: a 401 must not bypass the backoff (and a
		// forced refresh would); tell the caller when the next attempt is.
		tokenRetries.WithLabelValues(server, "backing_off").Inc()
		data.Reason, data.RetryAfterSeconds = mcpv1alpha1.ReasonRefreshFailing, retrySeconds(wait)
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady, fmt.Sprintf(
			"UpstreamServer %s rejected %s and refreshing it is failing; the controller retries in %s",
			server, h.token(), wait.Round(time.Second)), data, wait)
	}
	if retryable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil; !retryable {
		u.requestRefresh(h, rec.Revision)
		tokenRetries.WithLabelValues(server, "not_retryable").Inc()
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeUpstreamRejected, fmt.Sprintf(
			"UpstreamServer %s rejected %s; a refresh was asked for: send the request again", server, h.token()),
			data, 2*time.Second)
	}
	return nil
}

// retry asks for a refresh of rec, which the upstream rejected, waits for the new token and
// sends the request once more.
func (u *upstreams) retry(req *http.Request, h holder, rec *tokenstore.Record) (*http.Response, error) {
	server := h.server().String()
	ctx := req.Context()
	fresh := u.awaitNewToken(ctx, h, rec.Revision)
	if fresh == nil {
		u.markRejected(h, rec.Revision)
		tokenRetries.WithLabelValues(server, "no_new_token").Inc()
		return u.rejectedResponse(req, h), nil
	}
	if ri := requestInfoFrom(ctx); ri != nil {
		ri.retried = true
	}
	again := req.Clone(ctx)
	if req.GetBody != nil {
		var err error
		if again.Body, err = req.GetBody(); err != nil {
			return nil, fmt.Errorf("replaying the request body: %w", err)
		}
	}
	resp, err := u.attempt(again, h.us, fresh)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		drain(resp.Body)
		u.markRejected(h, fresh.Revision)
		tokenRetries.WithLabelValues(server, "rejected_again").Inc()
		return u.rejectedResponse(req, h), nil
	}
	tokenRetries.WithLabelValues(server, "success").Inc()
	return resp, nil
}

// attempt sends one request with rec's token and the static headers. It hands them to the
// base transport (netguard) bound to the spec's URL, which attaches them only to that origin:
// whatever the request's URL says, they reach nowhere else.
func (u *upstreams) attempt(req *http.Request, us *mcpv1alpha1.UpstreamServer, rec *tokenstore.Record) (*http.Response, error) {
	static, err := u.staticHeaders(req.Context(), us)
	if err != nil {
		u.g.log.Info("Failed to resolve static headers", "server", upstream.Name(us).String(), "error", err.Error())
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady, err.Error(),
			&rpcErrorData{Server: upstream.Name(us).String(), Reason: mcpv1alpha1.ReasonConfigInvalid}, 10*time.Second), nil
	}
	creds := &netguard.Credentials{BoundURL: us.Spec.URL, Headers: static}
	if rec != nil && rec.AccessToken != "" && boundTo(rec, us.Spec.URL) {
		creds.Bearer = rec.AccessToken
	}
	out := req.WithContext(netguard.WithCredentials(req.Context(), creds))
	if hasCallerCredentials(out.Header) {
		out.Header = out.Header.Clone()
		stripCallerCredentials(out.Header)
	}
	if ri := requestInfoFrom(req.Context()); ri != nil && !ri.addedObserved {
		ri.addedObserved = true
		addedLatency.Observe(time.Since(ri.start).Seconds())
	}
	start := time.Now()
	resp, err := u.base.RoundTrip(out)
	upstreamLatency.WithLabelValues(upstream.Name(us).String()).Observe(time.Since(start).Seconds())
	return resp, err
}

// boundTo reports whether rec's token was issued for serverURL. The store key binds records
// to the spec's URL already; this keeps a record from another binding from ever being sent.
func boundTo(rec *tokenstore.Record, serverURL string) bool {
	return rec.ServerURL == "" || rec.ServerURL == serverURL
}

// rejectedResponse explains a token the upstream keeps rejecting, with the status' reason when
// the controller has one (a person must log in, or refreshes are backing off).
func (u *upstreams) rejectedResponse(req *http.Request, h holder) *http.Response {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if nr := u.g.recheck(ctx, h); nr != nil {
		return rpcErrorResponseFor(req, nr.status, nr.code, nr.msg, nr.data, nr.retryAfter)
	}
	return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeUpstreamRejected, fmt.Sprintf(
		"UpstreamServer %s rejected %s and no new token arrived within %s; the controller is working on it",
		h.server(), h.token(), u.g.opts.RefreshWait), h.data(), 5*time.Second)
}

// staticHeaders resolves spec.headers (upstream.ResolveHeaders, reading Secrets uncached and
// only those that allow the server); cached for a few seconds per server generation so a
// rotated Secret, or one that withdraws its mcpproxy.dev/allowed-servers, is seen soon.
func (u *upstreams) staticHeaders(ctx context.Context, us *mcpv1alpha1.UpstreamServer) (http.Header, error) {
	if len(us.Spec.Headers) == 0 {
		return nil, nil
	}
	key := fmt.Sprintf("%s/%s/%s/%d", us.Namespace, us.Name, us.UID, us.Generation)
	if h, ok := u.headers.get(key); ok {
		return h, nil
	}
	h, err := upstream.ResolveHeaders(ctx, u.g.opts.APIReader, us)
	if err != nil {
		return nil, fmt.Errorf("UpstreamServer %s: %w", upstream.Name(us), err)
	}
	u.headers.put(key, h)
	return h, nil
}
