package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// Reasons of the gateway's own refusals on a PerSubject server, in data.reason.
const (
	// ReasonNoCredential: no UpstreamCredential of the server is bound to the caller;
	// data.loginCommand creates one for the caller.
	ReasonNoCredential = "NoCredential"
	// ReasonCredentialRefused: the CredentialHeader named a credential that is not the
	// server's or not bound to the caller (or several for one server).
	ReasonCredentialRefused = "CredentialRefused"
	// ReasonNoIdentity: the unauthenticated loopback caller has no identity to select a
	// credential with.
	ReasonNoIdentity = "NoIdentity"
)

// credentialServerField is the cache index of UpstreamCredentials by spec.serverRef.name that
// the manager registers (controllers.IndexCredentials) for its reconcilers; the gateway reads
// the same cache.
const credentialServerField = "spec.serverRef.name"

// perSubject reports whether us gives each caller its own credential.
func perSubject(us *mcpv1alpha1.UpstreamServer) bool {
	return us.Spec.CredentialMode == mcpv1alpha1.CredentialModePerSubject
}

// credentialsOf lists the credentials of server us from the manager's cache, by index; a
// reader without the index (a gateway on its own) lists the namespace instead.
func (g *Gateway) credentialsOf(ctx context.Context, us *mcpv1alpha1.UpstreamServer) ([]mcpv1alpha1.UpstreamCredential, error) {
	list := &mcpv1alpha1.UpstreamCredentialList{}
	// Read only, on every request to a PerSubject server: the cache's objects are not copied.
	err := g.opts.Client.List(ctx, list, client.InNamespace(us.Namespace), client.MatchingFields{credentialServerField: us.Name},
		client.UnsafeDisableDeepCopy)
	if err != nil {
		if err = g.opts.Client.List(ctx, list, client.InNamespace(us.Namespace)); err != nil {
			return nil, fmt.Errorf("listing the UpstreamCredentials of %s: %w", upstream.Name(us), err)
		}
	}
	out := list.Items[:0]
	for _, c := range list.Items {
		if c.Spec.ServerRef.Name == us.Name {
			out = append(out, c)
		}
	}
	return out, nil
}

// perSubjectReadiness decides from a PerSubject server's status whether its credentials may
// be used: the server holds no token and no session, so it must be Ready (its authorization
// server discovered) for its current spec; the credential's token, bound to spec.url by its
// store key, then stands where a Shared server's session does.
func perSubjectReadiness(us *mcpv1alpha1.UpstreamServer) *notReady {
	server := upstream.Name(us).String()
	data := &rpcErrorData{Server: server}
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
	switch {
	case us.Spec.Suspend:
		data.Reason = mcpv1alpha1.ReasonSuspended
		return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data,
			msg: fmt.Sprintf("UpstreamServer %s is suspended (spec.suspend: true); set it to false to use it", server)}
	case c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == us.Generation:
		return nil
	case c == nil || c.Status == metav1.ConditionUnknown || c.ObservedGeneration != us.Generation:
		return notReconciled(server, data, "the controller has not looked at its current spec")
	}
	data.Reason = c.Reason
	return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data,
		msg: fmt.Sprintf("UpstreamServer %s is not ready (%s): %s", server, c.Reason, c.Message)}
}

// credentialFor selects the caller's credential of PerSubject server us (entries: the
// caller's CredentialHeader; strict on the pass-through, where every entry is meant for us)
// and decides whether its token can be forwarded. The holder it returns carries the login
// command for this caller, for later explanations.
func (g *Gateway) credentialFor(ctx context.Context, id *Identity, us *mcpv1alpha1.UpstreamServer, entries []credentialEntry, strict bool) (holder, *notReady) {
	server := upstream.Name(us).String()
	if id.Loopback {
		return holder{}, &notReady{status: http.StatusForbidden, code: CodeForbidden,
			data: &rpcErrorData{Server: server, Reason: ReasonNoIdentity},
			msg:  fmt.Sprintf("UpstreamServer %s acts upstream as each caller's own UpstreamCredential: present a Kubernetes bearer token", server)}
	}
	creds, err := g.credentialsOf(ctx, us)
	if err != nil {
		g.log.Error(err, "Failed to list UpstreamCredentials", "server", server)
		return holder{}, &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: &rpcErrorData{Server: server},
			msg: "The gateway could not read the server's UpstreamCredentials; try again", retryAfter: 5 * time.Second}
	}
	named, ambiguous := namedFor(entries, us, creds, strict)
	sel := selectCredential(id, creds, named)
	switch {
	case ambiguous || sel.refused:
		return holder{}, credentialRefused(id, us, sel, ambiguous)
	case sel.match == nil:
		cmd := loginCommandFor(id, us, nil)
		return holder{}, &notReady{status: http.StatusServiceUnavailable, code: CodeAuthorizationRequired,
			data: &rpcErrorData{Server: server, Reason: ReasonNoCredential, LoginCommand: cmd},
			msg: fmt.Sprintf("%s has no UpstreamCredential for UpstreamServer %s, which acts upstream as each caller's own login: run `%s`",
				id.Name, server, cmd)}
	}
	h := holder{us: us, cred: sel.match.cred, login: loginCommandFor(id, us, sel.match)}
	rec, err := g.up.load(h)
	if err != nil {
		g.log.Error(err, "Failed to read the token store", "server", server, "credential", h.credentialName())
		return holder{}, &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: h.data(),
			msg: "The gateway could not read " + h.token() + "; try again", retryAfter: 5 * time.Second}
	}
	rejected := rec != nil && g.up.isRejected(h, rec.Revision)
	return h, credentialReadiness(h, rec, rejected, time.Now())
}

// credentialRefused explains a CredentialHeader that cannot be honoured. It names only the
// caller's own credentials.
func credentialRefused(id *Identity, us *mcpv1alpha1.UpstreamServer, sel selection, ambiguous bool) *notReady {
	server := upstream.Name(us).String()
	yours := "none"
	if len(sel.yours) > 0 {
		yours = strings.Join(sel.yours, ", ")
	}
	msg := fmt.Sprintf("The %s header names %s, which is not an UpstreamCredential of UpstreamServer %s bound to %s; yours: %s",
		CredentialHeader, sel.named, server, id.Name, yours)
	if ambiguous {
		msg = fmt.Sprintf("The %s header names several UpstreamCredentials of UpstreamServer %s (%s): name one", CredentialHeader, server, sel.named)
	}
	return &notReady{status: http.StatusForbidden, code: CodeForbidden, msg: msg,
		data: &rpcErrorData{Server: server, Reason: ReasonCredentialRefused}}
}

// credentialReadiness decides from a credential's stored token and status whether to forward
// with it. A usable token the upstream has not kept rejecting wins over a status that lags
// behind it, as does a token the status calls Ready (an expired one is waited for by send).
// Without a token bound to the server's current URL nothing is forwarded: the controller
// proves each token with an MCP request to that URL, which is what lets the gateway forward
// there at all.
func credentialReadiness(h holder, rec *tokenstore.Record, rejected bool, now time.Time) *notReady {
	c := h.cred
	data := h.data()
	hasToken := rec != nil && rec.AccessToken != "" && boundTo(rec, h.us.Spec.URL) && !rejected
	ready := meta.FindStatusCondition(c.Status.Conditions, mcpv1alpha1.ConditionReady)
	authReq := meta.FindStatusCondition(c.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired)
	unknown := ready == nil || ready.Status == metav1.ConditionUnknown
	switch {
	case c.Spec.Suspend:
		data.Reason = mcpv1alpha1.ReasonSuspended
		return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data,
			msg: fmt.Sprintf("%s is suspended (spec.suspend: true); set it to false to use it", h.describe())}
	case hasToken && (upstream.TokenUsable(rec, now) || ready != nil && ready.Status == metav1.ConditionTrue):
		return nil
	case authReq != nil && authReq.Status == metav1.ConditionTrue:
		return credentialLogin(h, data, authReq.Reason)
	case rec == nil && !unknown:
		return credentialLogin(h, data, mcpv1alpha1.ReasonNoToken)
	}
	if wait, ok := backingOff(c.Status.Refresh, now); ok {
		rs := c.Status.Refresh
		data.Reason, data.RetryAfterSeconds = mcpv1alpha1.ReasonRefreshFailing, retrySeconds(wait)
		return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data, retryAfter: wait,
			msg: fmt.Sprintf("%s has no valid token: %d refresh attempts failed (last: %s); the next is at %s",
				h.describe(), rs.FailedAttempts, rs.LastFailureReason, rs.NextRefreshTime.UTC().Format(time.RFC3339))}
	}
	if unknown || ready.Status == metav1.ConditionTrue {
		return notReconciled(data.Server, data, "the controller has not finished looking at "+h.describe())
	}
	data.Reason = ready.Reason
	return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: data,
		msg: fmt.Sprintf("%s is not ready (%s): %s", h.describe(), ready.Reason, ready.Message)}
}

// credentialLogin says a person must log in to the caller's credential, and how.
func credentialLogin(h holder, data *rpcErrorData, reason string) *notReady {
	data.Reason, data.LoginCommand = reason, h.login
	return &notReady{status: http.StatusServiceUnavailable, code: CodeAuthorizationRequired, data: data,
		msg: fmt.Sprintf("%s needs a person to log in (%s): run `%s`", h.describe(), reason, h.login)}
}

// recheck explains, from fresh status, why h's token cannot be used, or returns nil: what the
// caller is told when the upstream kept rejecting it.
func (g *Gateway) recheck(ctx context.Context, h holder) *notReady {
	us, nr := g.check(ctx, h.server())
	if nr != nil || h.cred == nil {
		return nr
	}
	cred, err := g.credential(ctx, client.ObjectKeyFromObject(h.cred))
	switch {
	case apierrors.IsNotFound(err) || err == nil && cred.UID != h.cred.UID:
		return &notReady{status: http.StatusServiceUnavailable, code: CodeNotReady, data: h.data(), retryAfter: time.Second,
			msg: fmt.Sprintf("%s was deleted; try again", h.describe())}
	case err != nil:
		return nil
	}
	fresh := holder{us: us, cred: cred, login: h.login}
	rec, err := g.up.loadFresh(fresh)
	if err != nil {
		return nil
	}
	return credentialReadiness(fresh, rec, rec != nil && g.up.isRejected(fresh, rec.Revision), time.Now())
}
