package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// noCredential selects hand-overs that carry no credential's label: those for a server's
// shared token. A credential's hand-over carries its server's label as well (the login-handover
// admission policy checks the right to log in to that server), so without it a server's pass
// would take, reject and delete its credentials' logins.
var noCredential = func() labels.Requirement {
	r, err := labels.NewRequirement(mcpv1alpha1.HandOverCredentialLabel, selection.DoesNotExist, nil)
	if err != nil {
		panic(err) // a constant, valid label key
	}
	return *r
}()

// serverHandOvers selects the hand-overs for server's shared token.
func serverHandOvers(server string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{mcpv1alpha1.HandOverServerLabel: server}).Add(noCredential)
}

// credentialHandOvers selects the hand-overs for credential cred (its server's label is checked
// when each is validated, so one naming another server is refused, not left lying).
func credentialHandOvers(cred string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{mcpv1alpha1.HandOverCredentialLabel: cred})
}

// perSubject reports whether us holds no shared token: its credentials hold one per person.
func perSubject(us *mcpv1alpha1.UpstreamServer) bool {
	return us.Spec.CredentialMode == mcpv1alpha1.CredentialModePerSubject
}

// errSharedHandOver refuses a login handed over for a PerSubject server itself.
func errSharedHandOver(us *mcpv1alpha1.UpstreamServer) error {
	return fmt.Errorf("the server's credentialMode is PerSubject, so it holds no shared token; log in for a subject instead: "+
		"mcpproxy auth login %s -n %s --for user/NAME (or serviceaccount/NAMESPACE/NAME, group/NAME)", us.Name, us.Namespace)
}

// handOverOwner is the object a hand-over must be owned by: the server for its shared token,
// or one of its credentials.
type handOverOwner struct {
	kind string
	uid  types.UID
}

func serverOwned(us *mcpv1alpha1.UpstreamServer) handOverOwner {
	return handOverOwner{kind: "UpstreamServer", uid: us.UID}
}

// validateHandOver checks that a Secret is a hand-over for exactly this server, owned by owner,
// and returns the token it carries.
func validateHandOver(us *mcpv1alpha1.UpstreamServer, owner handOverOwner, sec *corev1.Secret) (*tokenstore.Record, error) {
	if string(sec.Type) != mcpv1alpha1.HandOverSecretType {
		return nil, fmt.Errorf("type is %q, want %q", sec.Type, mcpv1alpha1.HandOverSecretType)
	}
	owned := false
	for _, o := range sec.OwnerReferences {
		if o.UID == owner.uid && o.Kind == owner.kind {
			owned = true
		}
	}
	if !owned {
		return nil, fmt.Errorf("it is not owned by this %s (uid %s)", owner.kind, owner.uid)
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
