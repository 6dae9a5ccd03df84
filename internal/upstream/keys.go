package upstream

import (
	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// StoreKey binds a server's token to what the spec declares: changing the URL, issuer, client or
// resource addresses another record, so an old token never reaches a new target.
func StoreKey(us *mcpv1alpha1.UpstreamServer) tokenstore.Key {
	b := tokenstore.Binding{ServerURL: us.Spec.URL}
	if o := us.Spec.OAuth; o != nil {
		b.Issuer, b.ClientID, b.Resource = o.AuthorizationServer, o.ClientID, o.Resource
	}
	return tokenstore.Key{Namespace: us.Namespace, Name: us.Name, Binding: b}
}

// CredentialStoreKey addresses credential c's token: under the server's binding (a URL change
// isolates credentials as it does the server's own token), named "server:credential", which no
// server name can be (':' is not allowed in Kubernetes names) and DeleteServer of the server
// does not touch.
func CredentialStoreKey(us *mcpv1alpha1.UpstreamServer, c *mcpv1alpha1.UpstreamCredential) tokenstore.Key {
	k := StoreKey(us)
	k.Name = CredentialStoreName(c)
	return k
}

// CredentialStoreName is the store name of credential c's tokens, "server:credential:uid": what
// tokenstore's DeleteServer takes to delete every binding of it, with or without its server.
// The UID is part of it: a credential deleted without its finalizer (someone removed it) and
// created again under the same name must not find the old login, which would let whoever
// recreated it act as that person.
func CredentialStoreName(c *mcpv1alpha1.UpstreamCredential) string {
	return c.Spec.ServerRef.Name + ":" + c.Name + ":" + string(c.UID)
}

// CredentialSessionKey names credential c of its server in logs, jitter and signals:
// "namespace/server:credential".
func CredentialSessionKey(c *mcpv1alpha1.UpstreamCredential) string {
	return c.Namespace + "/" + c.Spec.ServerRef.Name + ":" + c.Name
}

// Name is the server's namespace and name.
func Name(us *mcpv1alpha1.UpstreamServer) types.NamespacedName {
	return types.NamespacedName{Namespace: us.Namespace, Name: us.Name}
}

// SessionKey is the key of a server's live MCP session in an mcpconn.Pool: "namespace/name".
func SessionKey(us *mcpv1alpha1.UpstreamServer) string { return Name(us).String() }

// ParseSessionKey is the inverse of SessionKey.
func ParseSessionKey(key string) types.NamespacedName {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return types.NamespacedName{Namespace: key[:i], Name: key[i+1:]}
		}
	}
	return types.NamespacedName{Name: key}
}
