package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// bufferBody keeps a small request body in memory so a request rejected with 401 can be sent
// again, and reads its JSON-RPC id for error answers. Larger bodies stream through unbuffered
// (and are not retried).
func (g *Gateway) bufferBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	limit := g.opts.MaxRetryBody
	head, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeRPCError(w, http.StatusBadRequest, nil, CodeBadGateway, "The request body could not be read", nil, 0)
		return nil, false
	}
	if int64(len(head)) > limit {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		r.GetBody = nil
		return nil, true
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(head))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(head)), nil }
	r.ContentLength = int64(len(head))
	id := rpcIDOf(head)
	*r = *r.WithContext(context.WithValue(r.Context(), rpcIDKey{}, id))
	return id, true
}

// notReady says why a request cannot be forwarded, in words a person understands.
type notReady struct {
	status     int
	code       int
	msg        string
	data       *rpcErrorData
	retryAfter time.Duration
}

// gate reads the server and refuses requests it cannot forward. It answers itself and reports
// false when the request stops here. For a PerSubject server it checks the server only; pick
// then checks the caller's credential.
func (g *Gateway) gate(w http.ResponseWriter, r *http.Request, nn types.NamespacedName, rpcID json.RawMessage) (*mcpv1alpha1.UpstreamServer, bool) {
	us, nr := g.check(r.Context(), nn)
	if nr != nil {
		writeRPCError(w, nr.status, rpcID, nr.code, nr.msg, nr.data, nr.retryAfter)
		return nil, false
	}
	return us, true
}

// pick returns whose token a request of id to us carries: the server's own, or for a
// PerSubject server the caller's credential (selected by identity and CredentialHeader,
// every entry of which is meant for us). It answers itself and reports false when the
// caller has no usable credential.
func (g *Gateway) pick(w http.ResponseWriter, r *http.Request, id *Identity, us *mcpv1alpha1.UpstreamServer, rpcID json.RawMessage) (holder, bool) {
	if !perSubject(us) {
		return serverHolder(us), true
	}
	h, nr := g.credentialFor(r.Context(), id, us, credentialEntries(r.Header), true)
	if nr != nil {
		writeRPCError(w, nr.status, rpcID, nr.code, nr.msg, nr.data, nr.retryAfter)
		return holder{}, false
	}
	return h, true
}

// check reads the server and decides whether a request may be forwarded: for a Shared server
// with its token, for a PerSubject server as far as the server goes (credentialFor does the rest).
func (g *Gateway) check(ctx context.Context, nn types.NamespacedName) (*mcpv1alpha1.UpstreamServer, *notReady) {
	us, err := g.server(ctx, nn)
	if apierrors.IsNotFound(err) {
		// The cache may lag behind a server created a moment ago: ask the API server.
		us = &mcpv1alpha1.UpstreamServer{}
		err = g.opts.APIReader.Get(ctx, nn, us)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &notReady{status: http.StatusNotFound, code: CodeNotFound,
				msg: fmt.Sprintf("There is no UpstreamServer %s", nn), data: &rpcErrorData{Server: nn.String()}}
		}
		g.log.Error(err, "Failed to read an UpstreamServer", "server", nn.String())
		return nil, &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady,
			msg: "The gateway could not read the UpstreamServer; try again", retryAfter: 5 * time.Second}
	}
	if g.opts.Shard != nil && !g.opts.Shard.Matches(labels.Set(us.Labels)) {
		return nil, &notReady{status: http.StatusNotFound, code: CodeNotFound,
			msg:  fmt.Sprintf("UpstreamServer %s is served by another shard's gateway: this one serves the servers matching %s", nn, g.opts.Shard),
			data: &rpcErrorData{Server: nn.String()}}
	}
	if perSubject(us) {
		return us, perSubjectReadiness(us)
	}
	h := serverHolder(us)
	rec, err := g.up.load(h)
	if err != nil {
		g.log.Error(err, "Failed to read the token store", "server", nn.String())
		return nil, &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: &rpcErrorData{Server: nn.String()},
			msg: "The gateway could not read the server's token; try again", retryAfter: 5 * time.Second}
	}
	return us, readiness(us, g.up.usable(h, rec, time.Now()), time.Now())
}

// readiness decides from status whether to forward. Only a server the controller has
// connected to for its current spec (Connected=True at the current generation) is forwarded
// to: a server that needs no token, or carries static headers, is Authenticated without any
// MCP session, and forwarding to it would let a caller reach any address spec.url names
// (SSRF). Then a usable token in the store wins over a status that lags behind it (a refresh
// that just landed).
func readiness(us *mcpv1alpha1.UpstreamServer, tokenUsable bool, now time.Time) *notReady {
	server := upstream.Name(us).String()
	data := &rpcErrorData{Server: server}
	connected := connectedNow(us)
	switch {
	case us.Spec.Suspend:
		data.Reason = mcpv1alpha1.ReasonSuspended
		return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data,
			msg: fmt.Sprintf("UpstreamServer %s is suspended (spec.suspend: true); set it to false to use it", server)}
	case connected && (tokenUsable || upstream.IsTrue(us, mcpv1alpha1.ConditionReady)):
		return nil
	case connected && upstream.IsTrue(us, mcpv1alpha1.ConditionAuthenticated):
		return nil // no OAuth needed (public or API-key server): the upstream speaks for itself
	case upstream.IsTrue(us, mcpv1alpha1.ConditionAuthorizationRequired):
		return loginRequired(us, data)
	}
	if wait, ok := upstream.BackingOff(us, now); ok {
		rs := us.Status.Refresh
		data.Reason = mcpv1alpha1.ReasonRefreshFailing
		data.RetryAfterSeconds = retrySeconds(wait)
		return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data, retryAfter: wait,
			msg: fmt.Sprintf("UpstreamServer %s has no valid token: %d refresh attempts failed (last: %s); the next is at %s",
				server, rs.FailedAttempts, rs.LastFailureReason, rs.NextRefreshTime.UTC().Format(time.RFC3339))}
	}
	if nr := notConnected(us, data); nr != nil {
		return nr
	}
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
	if c == nil || c.Status == metav1.ConditionUnknown {
		return notReconciled(server, data, "the controller has not finished looking at it")
	}
	data.Reason = c.Reason
	return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data,
		msg: fmt.Sprintf("UpstreamServer %s is not ready (%s): %s", server, c.Reason, c.Message)}
}

// connectedNow reports whether the controller holds a live MCP session to us as it is now:
// a Connected condition written for an older generation may be about another spec.url.
func connectedNow(us *mcpv1alpha1.UpstreamServer) bool {
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionConnected)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == us.Generation
}

// notConnected explains a server without a current live session, or returns nil.
func notConnected(us *mcpv1alpha1.UpstreamServer, data *rpcErrorData) *notReady {
	if connectedNow(us) {
		return nil
	}
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionConnected)
	if c == nil || c.Status != metav1.ConditionFalse || c.ObservedGeneration != us.Generation {
		return notReconciled(data.Server, data, "the controller has not connected to its current spec.url")
	}
	data.Reason = c.Reason
	return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data,
		msg: fmt.Sprintf("UpstreamServer %s is not connected (%s): %s; the gateway forwards only to a server the controller has connected to",
			data.Server, c.Reason, c.Message)}
}

// notReconciled says the controller has not decided yet; try again shortly.
func notReconciled(server string, data *rpcErrorData, why string) *notReady {
	data.Reason = mcpv1alpha1.ReasonReconciling
	data.RetryAfterSeconds = 5
	return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data, retryAfter: 5 * time.Second,
		msg: fmt.Sprintf("UpstreamServer %s is not ready yet: %s", server, why)}
}

// loginRequired says a person must log in, and how.
func loginRequired(us *mcpv1alpha1.UpstreamServer, data *rpcErrorData) *notReady {
	data.Reason = upstream.ConditionReason(us, mcpv1alpha1.ConditionAuthorizationRequired)
	msg := fmt.Sprintf("UpstreamServer %s needs a person to authorize it (%s)", data.Server, data.Reason)
	if a := us.Status.Authorization; a != nil && a.LoginCommand != "" {
		data.LoginCommand = a.LoginCommand
		msg += ": run `" + a.LoginCommand + "`"
	}
	return &notReady{status: http.StatusServiceUnavailable, code: CodeAuthorizationRequired, msg: msg, data: data}
}
