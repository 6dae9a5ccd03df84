package controllers

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// ingestHandOvers stores the newest valid login hand-over for the server (compare-and-swap over
// whatever is stored: the newest login wins), rejects bad ones with a Warning event, and deletes
// every hand-over Secret it looked at.
func (r *UpstreamServerReconciler) ingestHandOvers(ctx context.Context, st *serverState) {
	us := st.us
	var list corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(us.Namespace),
		client.MatchingLabels{mcpv1alpha1.HandOverServerLabel: us.Name}); err != nil {
		st.log.Error(err, "Failed to list login hand-overs")
		return
	}
	secrets := list.Items
	// Oldest first, so the newest valid login is stored last and wins.
	sort.Slice(secrets, func(i, j int) bool {
		return secrets[i].CreationTimestamp.Before(&secrets[j].CreationTimestamp)
	})
	for i := range secrets {
		sec := &secrets[i]
		p, err := validateHandOver(us, sec)
		if err == nil {
			err = r.storeHandOver(st, p)
		}
		if err != nil {
			msg := fmt.Sprintf("Login hand-over %s was rejected: %v", sec.Name, err)
			st.log.Info("Rejected a login hand-over", "secret", sec.Name, "reason", err.Error())
			st.event(true, mcpv1alpha1.ReasonHandOverRejected, "Login", "%s", msg)
			if st.record == nil {
				r.requireLogin(st, nil, mcpv1alpha1.ReasonHandOverRejected, msg, nil)
			}
		}
		if derr := r.Delete(ctx, sec); derr != nil && !apierrors.IsNotFound(derr) {
			st.log.Error(derr, "Failed to delete a login hand-over", "secret", sec.Name)
		}
	}
}

// validateHandOver checks that a Secret is a hand-over for exactly this server.
func validateHandOver(us *mcpv1alpha1.UpstreamServer, sec *corev1.Secret) (*handover.Payload, error) {
	if string(sec.Type) != mcpv1alpha1.HandOverSecretType {
		return nil, fmt.Errorf("type is %q, want %q", sec.Type, mcpv1alpha1.HandOverSecretType)
	}
	owned := false
	for _, o := range sec.OwnerReferences {
		if o.UID == us.UID && o.Kind == "UpstreamServer" {
			owned = true
		}
	}
	if !owned {
		return nil, fmt.Errorf("it is not owned by this UpstreamServer (uid %s)", us.UID)
	}
	p, err := handover.Decode(sec.Data[mcpv1alpha1.HandOverDataKey])
	if err != nil {
		return nil, err
	}
	if p.ServerURL != us.Spec.URL {
		return nil, fmt.Errorf("it is for %s, but the server's url is %s", p.ServerURL, us.Spec.URL)
	}
	if o := us.Spec.OAuth; o != nil {
		if o.AuthorizationServer != "" && p.Issuer != o.AuthorizationServer {
			return nil, fmt.Errorf("it was issued by %s, but spec.oauth.authorizationServer is %s", p.Issuer, o.AuthorizationServer)
		}
		if o.ClientID != "" && p.Client.ClientID != o.ClientID {
			return nil, fmt.Errorf("it was issued to client %s, but spec.oauth.clientID is %s", p.Client.ClientID, o.ClientID)
		}
		if o.Resource != "" && p.Resource != o.Resource {
			return nil, fmt.Errorf("it is bound to resource %s, but spec.oauth.resource is %s", p.Resource, o.Resource)
		}
	}
	return p, nil
}

// storeHandOver saves a login over the current record.
func (r *UpstreamServerReconciler) storeHandOver(st *serverState, p *handover.Payload) error {
	rec := &tokenstore.Record{
		AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: p.TokenType,
		Expiry: p.Expiry, Scopes: p.Scopes, Issuer: p.Issuer, TokenEndpoint: p.TokenEndpoint,
		RevocationEndpoint: p.RevocationEndpoint, Resource: p.Resource, ServerURL: p.ServerURL,
		Client: tokenstore.ClientRegistration{ClientID: p.Client.ClientID, ClientSecret: p.Client.ClientSecret,
			AuthMethod: p.Client.AuthMethod, RedirectURI: p.Client.RedirectURI},
		ObtainedAt: p.CreatedAt, CorrelationID: p.CorrelationID,
	}
	if rec.ObtainedAt.IsZero() {
		rec.ObtainedAt = st.now
	}
	var expect uint64
	if st.record != nil {
		expect = st.record.Revision
	}
	rev, err := r.Store.Save(st.key, rec, expect)
	if err != nil {
		return fmt.Errorf("saving it: %w", err)
	}
	rec.Revision = rev
	st.record = rec
	r.forgetUnsaved(st.key)
	us := st.us
	if rs := us.Status.Refresh; rs != nil {
		rs.FailedAttempts = 0
	}
	now := st.metaNow()
	// A new login lifts every request for a person, including a rejected refresh token.
	setAuthorizationRequired(us, now, false, mcpv1alpha1.ReasonLoginCompleted, "A login was completed")
	us.Status.LastCorrelationID = p.CorrelationID
	st.log.Info("Ingested a login hand-over", "correlationID", p.CorrelationID, "hasRefreshToken", p.RefreshToken != "")
	st.event(false, "LoginCompleted", "Login", "Login completed; token stored (refresh token: %t)", p.RefreshToken != "")
	return nil
}
