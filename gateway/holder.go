package gateway

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// holder is whose token a request to an upstream carries: a Shared server's own, or, for a
// PerSubject server, the UpstreamCredential the caller's identity selected. Everything the
// transport does with a token (load it, wait for its refresh, ask for one, remember a
// rejected revision) goes through the holder, so a credential's token is handled exactly as
// a server's, and one credential's trouble never touches another's.
type holder struct {
	us   *mcpv1alpha1.UpstreamServer
	cred *mcpv1alpha1.UpstreamCredential // nil: the server's own token
	// login is the command that gets the caller a usable credential (PerSubject only), for
	// the explanations of a token the upstream keeps rejecting.
	login string
}

// serverHolder is the holder of a Shared server's own token.
func serverHolder(us *mcpv1alpha1.UpstreamServer) holder { return holder{us: us} }

// server is the server's namespace and name.
func (h holder) server() types.NamespacedName { return upstream.Name(h.us) }

// key addresses the token in the store: under the server's binding either way, so a changed
// spec.url never gets an old token.
func (h holder) key() tokenstore.Key {
	if h.cred == nil {
		return upstream.StoreKey(h.us)
	}
	return upstream.CredentialStoreKey(h.us, h.cred)
}

// mark identifies the holder in the transport's memory (refreshes asked for, revisions
// rejected). A credential's includes its UID: a credential deleted and created again under
// the same name is another person's login.
func (h holder) mark() string {
	if h.cred == nil {
		return h.server().String()
	}
	return upstream.CredentialSessionKey(h.cred) + "/" + string(h.cred.UID)
}

// credentialName is the credential's name, or "" for the server's own token.
func (h holder) credentialName() string {
	if h.cred == nil {
		return ""
	}
	return h.cred.Name
}

// describe names the token's owner in messages.
func (h holder) describe() string {
	if h.cred == nil {
		return "UpstreamServer " + h.server().String()
	}
	return fmt.Sprintf("UpstreamCredential %s/%s (of UpstreamServer %s)", h.cred.Namespace, h.cred.Name, h.server())
}

// token names the token in messages: "its token" for a server's own, whose server the
// message names already.
func (h holder) token() string {
	if h.cred == nil {
		return "its token"
	}
	return "the token of " + h.describe()
}

// data is the JSON-RPC error data naming the holder.
func (h holder) data() *rpcErrorData {
	return &rpcErrorData{Server: h.server().String(), Credential: h.credentialName()}
}

// refreshRequest asks the reconciler that owns the token to look at it (rev 0) or to refresh
// rejected revision rev: the credential reconciler for a credential (Signals routes on
// RefreshRequest.Credential), the server reconciler otherwise.
func (h holder) refreshRequest(rev uint64) upstream.RefreshRequest {
	return upstream.RefreshRequest{Server: h.server(), Credential: h.credentialName(), RejectedRevision: rev}
}

// refreshStatus is the failure memory of the token's refreshes.
func (h holder) refreshStatus() *mcpv1alpha1.RefreshStatus {
	if h.cred == nil {
		return h.us.Status.Refresh
	}
	return h.cred.Status.Refresh
}

// backingOff reports whether failed refreshes of the token wait past now, and for how long.
func (h holder) backingOff(now time.Time) (time.Duration, bool) {
	return backingOff(h.refreshStatus(), now)
}

// backingOff is upstream.BackingOff for any status' refresh memory (a server's or a credential's).
func backingOff(rs *mcpv1alpha1.RefreshStatus, now time.Time) (time.Duration, bool) {
	if rs == nil || rs.FailedAttempts == 0 || rs.NextRefreshTime == nil || !now.Before(rs.NextRefreshTime.Time) {
		return 0, false
	}
	return rs.NextRefreshTime.Sub(now), true
}
