package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// validateHandOver checks that a Secret is a hand-over for exactly this server, and returns
// the token it carries.
func validateHandOver(us *mcpv1alpha1.UpstreamServer, sec *corev1.Secret) (*tokenstore.Record, error) {
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
		return nil, fmt.Errorf("it is for %s, but the server's url is %s", oauth.RedactURL(p.ServerURL), oauth.RedactURL(us.Spec.URL))
	}
	if o := us.Spec.OAuth; o != nil {
		if o.AuthorizationServer != "" && p.Issuer != o.AuthorizationServer {
			return nil, fmt.Errorf("it was issued by %s, but spec.oauth.authorizationServer is %s", oauth.RedactURL(p.Issuer), oauth.RedactURL(o.AuthorizationServer))
		}
		if o.ClientID != "" && p.Client.ClientID != o.ClientID {
			return nil, fmt.Errorf("it was issued to client %q, but spec.oauth.clientID is %q", short(p.Client.ClientID), o.ClientID)
		}
		if o.Resource != "" && p.Resource != o.Resource {
			return nil, fmt.Errorf("it is bound to resource %s, but spec.oauth.resource is %s", oauth.RedactURL(p.Resource), oauth.RedactURL(o.Resource))
		}
	}
	rec := handOverRecord(p)
	// Trustworthy where the login-handover admission policy is installed: it admits a
	// hand-over only when this annotation names the requesting user.
	rec.ObtainedBy = sec.Annotations[mcpv1alpha1.AnnotationCreatedBy]
	if len(rec.ObtainedBy) > maxUserName {
		return nil, fmt.Errorf("its %s annotation is longer than %d characters", mcpv1alpha1.AnnotationCreatedBy, maxUserName)
	}
	return rec, nil
}

// maxUserName bounds the user name a hand-over may name (it is shown in status.token.obtainedBy).
const maxUserName = 512

// short cuts what a hand-over says to a length fit for a message.
func short(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}

// handOverRecord is the token record a hand-over carries.
func handOverRecord(p *handover.Payload) *tokenstore.Record {
	return &tokenstore.Record{
		AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: p.TokenType,
		Expiry: p.Expiry, Scopes: p.Scopes, Issuer: p.Issuer, TokenEndpoint: p.TokenEndpoint,
		RevocationEndpoint: p.RevocationEndpoint, Resource: p.Resource, ServerURL: p.ServerURL,
		Client: tokenstore.ClientRegistration{ClientID: p.Client.ClientID, ClientSecret: p.Client.ClientSecret,
			AuthMethod: p.Client.AuthMethod, RedirectURI: p.Client.RedirectURI},
		ObtainedAt: p.CreatedAt, CorrelationID: p.CorrelationID,
	}
}
