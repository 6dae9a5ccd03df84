package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// send forwards req to us with the server's credentials. When the upstream answers 401 to a
// token the store holds, it asks the reconciler for a refresh, waits a bounded time for a new
// token and sends the request once more (requests whose body was not kept are not retried).
func (u *upstreams) send(req *http.Request, us *mcpv1alpha1.UpstreamServer) (*http.Response, error) {
	nn := serverName(us)
	data := &rpcErrorData{Server: nn.String()}
	rec, err := u.load(us)
	if err != nil {
		u.g.log.Error(err, "Failed to read the token store", "server", nn.String())
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady,
			"The gateway could not read the server's token; try again", data, 5*time.Second), nil
	}
	if tokenExpired(rec, time.Now()) {
		// Never forward a token past its expiry (after a restart the store may hold one until the
		// reconciler's first pass): the reconciler refreshes expired tokens by itself, so ask it
		// to look now and wait, bounded, for the new revision.
		u.g.opts.Notify(nn.String())
		fresh := u.pollNewer(req.Context(), us, rec.Revision)
		if fresh == nil || tokenExpired(fresh, time.Now()) {
			tokenRetries.WithLabelValues(nn.String(), "expired").Inc()
			data.Reason = mcpv1alpha1.ReasonTokenExpired
			return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady, fmt.Sprintf(
				"UpstreamServer %s's access token expired and the controller has not refreshed it yet; try again", nn),
				data, 2*time.Second), nil
		}
		rec = fresh
	}
	resp, err := u.attempt(req, us, rec)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	drain(resp.Body)
	if rec == nil || rec.AccessToken == "" {
		u.g.opts.Notify(nn.String())
		return rpcErrorResponseFor(req, http.StatusBadGateway, CodeUpstreamRejected, fmt.Sprintf(
			"UpstreamServer %s asked for credentials the controller does not hold; the controller was asked to look again", nn), data, 0), nil
	}
	ctx := req.Context()
	if u.isRejected(nn, rec.Revision) {
		// Waited for this token's replacement before, in vain: fail fast, ask again (deduplicated).
		u.requestRefresh(us, rec.Revision)
		tokenRetries.WithLabelValues(nn.String(), "still_rejected").Inc()
		return u.rejectedResponse(req, nn), nil
	}
	if wait, ok := backingOff(us, time.Now()); ok {
		// Refreshes are failing and backing off: a 401 must not bypass the backoff (and a
		// forced refresh would); tell the caller when the next attempt is.
		tokenRetries.WithLabelValues(nn.String(), "backing_off").Inc()
		data.Reason, data.RetryAfterSeconds = mcpv1alpha1.ReasonRefreshFailing, retrySeconds(wait)
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady, fmt.Sprintf(
			"UpstreamServer %s rejected its token and refreshing it is failing; the controller retries in %s",
			nn, wait.Round(time.Second)), data, wait), nil
	}
	retryable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !retryable {
		u.requestRefresh(us, rec.Revision)
		tokenRetries.WithLabelValues(nn.String(), "not_retryable").Inc()
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeUpstreamRejected, fmt.Sprintf(
			"UpstreamServer %s rejected its token; a refresh was asked for: send the request again", nn), data, 2*time.Second), nil
	}
	fresh := u.awaitNewToken(ctx, us, rec.Revision)
	if fresh == nil {
		u.markRejected(nn, rec.Revision)
		tokenRetries.WithLabelValues(nn.String(), "no_new_token").Inc()
		return u.rejectedResponse(req, nn), nil
	}
	if ri := requestInfoFrom(ctx); ri != nil {
		ri.retried = true
	}
	retry := req.Clone(ctx)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, fmt.Errorf("replaying the request body: %w", err)
		}
	}
	resp, err = u.attempt(retry, us, fresh)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		drain(resp.Body)
		u.markRejected(nn, fresh.Revision)
		tokenRetries.WithLabelValues(nn.String(), "rejected_again").Inc()
		return u.rejectedResponse(req, nn), nil
	}
	tokenRetries.WithLabelValues(nn.String(), "success").Inc()
	return resp, nil
}

// attempt sends one request with rec's token and the static headers.
func (u *upstreams) attempt(req *http.Request, us *mcpv1alpha1.UpstreamServer, rec *tokenstore.Record) (*http.Response, error) {
	out := req.Clone(req.Context())
	stripCallerCredentials(out.Header)
	static, err := u.staticHeaders(req.Context(), us)
	if err != nil {
		u.g.log.Info("Failed to resolve static headers", "server", serverName(us).String(), "error", err.Error())
		return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeNotReady, err.Error(),
			&rpcErrorData{Server: serverName(us).String(), Reason: mcpv1alpha1.ReasonConfigInvalid}, 10*time.Second), nil
	}
	for k, v := range static {
		out.Header[k] = append([]string(nil), v...)
	}
	if rec != nil && rec.AccessToken != "" {
		out.Header.Set("Authorization", "Bearer "+rec.AccessToken)
	}
	if ri := requestInfoFrom(req.Context()); ri != nil && !ri.addedObserved {
		ri.addedObserved = true
		addedLatency.Observe(time.Since(ri.start).Seconds())
	}
	start := time.Now()
	resp, err := u.base.RoundTrip(out)
	upstreamLatency.WithLabelValues(serverName(us).String()).Observe(time.Since(start).Seconds())
	return resp, err
}

// rejectedResponse explains a token the upstream keeps rejecting, with the status' reason when
// the controller has one (a person must log in, or refreshes are backing off).
func (u *upstreams) rejectedResponse(req *http.Request, nn types.NamespacedName) *http.Response {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if us, nr := u.g.check(ctx, nn); us != nil || nr != nil {
		if nr != nil {
			return rpcErrorResponseFor(req, nr.status, nr.code, nr.msg, nr.data, nr.retryAfter)
		}
	}
	return rpcErrorResponseFor(req, http.StatusServiceUnavailable, CodeUpstreamRejected, fmt.Sprintf(
		"UpstreamServer %s rejected its token and no new token arrived within %s; the controller is working on it",
		nn, u.g.opts.RefreshWait), &rpcErrorData{Server: nn.String()}, 5*time.Second)
}

// awaitNewToken asks for a refresh of rejectedRev and polls the store until another revision
// with an access token appears, or the wait bound passes (nil).
func (u *upstreams) awaitNewToken(ctx context.Context, us *mcpv1alpha1.UpstreamServer, rejectedRev uint64) *tokenstore.Record {
	if rec := u.newerRecord(us, rejectedRev); rec != nil {
		return rec // the reconciler already saved a newer token
	}
	u.requestRefresh(us, rejectedRev)
	return u.pollNewer(ctx, us, rejectedRev)
}

// pollNewer polls the store until a revision other than rev with an access token appears, or
// the wait bound passes (nil).
func (u *upstreams) pollNewer(ctx context.Context, us *mcpv1alpha1.UpstreamServer, rev uint64) *tokenstore.Record {
	ctx, cancel := context.WithTimeout(ctx, u.g.opts.RefreshWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if rec := u.newerRecord(us, rev); rec != nil {
			return rec
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (u *upstreams) newerRecord(us *mcpv1alpha1.UpstreamServer, rev uint64) *tokenstore.Record {
	rec, err := u.load(us)
	if err == nil && rec != nil && rec.Revision != rev && rec.AccessToken != "" {
		return rec
	}
	return nil
}

// tokenExpired reports whether rec holds an access token whose known expiry has passed.
func tokenExpired(rec *tokenstore.Record, now time.Time) bool {
	return rec != nil && rec.AccessToken != "" && !rec.Expiry.IsZero() && !now.Before(rec.Expiry)
}

// backingOff reports whether failed refreshes of us wait past now, and how long.
func backingOff(us *mcpv1alpha1.UpstreamServer, now time.Time) (time.Duration, bool) {
	rs := us.Status.Refresh
	if rs == nil || rs.FailedAttempts == 0 || rs.NextRefreshTime == nil || !now.Before(rs.NextRefreshTime.Time) {
		return 0, false
	}
	return rs.NextRefreshTime.Sub(now), true
}

// requestRefresh asks the reconciler, the only one that refreshes, for a refresh now: the
// mcpproxy.dev/refresh-requested-at annotation, honoured even during a backoff. A plain
// reconcile would not do: the reconciler refreshes early only when its own session saw a 401.
// One request per rejected revision (again after three wait bounds); never during a backoff.
func (u *upstreams) requestRefresh(us *mcpv1alpha1.UpstreamServer, rev uint64) {
	nn := serverName(us)
	if _, ok := backingOff(us, time.Now()); ok {
		u.g.opts.Notify(nn.String())
		return
	}
	u.mu.Lock()
	m, ok := u.requested[nn]
	if ok && m.rev == rev && time.Since(m.at) < 3*u.g.opts.RefreshWait {
		u.mu.Unlock()
		return
	}
	u.requested[nn] = refreshMark{rev: rev, at: time.Now()}
	u.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`,
		mcpv1alpha1.AnnotationRefreshRequestedAt, time.Now().UTC().Format(time.RFC3339Nano))
	obj := &mcpv1alpha1.UpstreamServer{}
	obj.Namespace, obj.Name = nn.Namespace, nn.Name
	if err := u.g.opts.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		u.g.log.Error(err, "Failed to ask the controller for a refresh", "server", nn.String())
		u.g.opts.Notify(nn.String())
		return
	}
	refreshRequests.WithLabelValues(nn.String()).Inc()
	u.g.log.Info("Asked the controller to refresh a token the upstream rejected", "server", nn.String())
}

// staticHeaders resolves spec.headers, reading Secrets uncached; cached for a few seconds per
// server generation so a rotated Secret is picked up soon.
func (u *upstreams) staticHeaders(ctx context.Context, us *mcpv1alpha1.UpstreamServer) (http.Header, error) {
	if len(us.Spec.Headers) == 0 {
		return nil, nil
	}
	key := fmt.Sprintf("%s/%s/%s/%d", us.Namespace, us.Name, us.UID, us.Generation)
	if h, ok := u.headers.get(key); ok {
		return h, nil
	}
	h := http.Header{}
	for _, hs := range us.Spec.Headers {
		switch {
		case hs.Value != nil:
			h.Set(hs.Name, *hs.Value)
		case hs.ValueFrom != nil:
			ref := hs.ValueFrom.SecretKeyRef
			var s corev1.Secret
			if err := u.g.opts.APIReader.Get(ctx, types.NamespacedName{Namespace: us.Namespace, Name: ref.Name}, &s); err != nil {
				return nil, fmt.Errorf("header %s of UpstreamServer %s/%s: reading Secret %s: %w", hs.Name, us.Namespace, us.Name, ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("header %s of UpstreamServer %s/%s: Secret %s has no key %q", hs.Name, us.Namespace, us.Name, ref.Name, ref.Key)
			}
			h.Set(hs.Name, string(v))
		}
	}
	u.headers.put(key, h)
	return h, nil
}
