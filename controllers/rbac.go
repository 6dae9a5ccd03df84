// Package controllers holds the UpstreamServer and UpstreamCredential reconcilers: each owns
// its object's token (a server's also its MCP connection), one reconcile per object at a time.
package controllers

// The manager's permissions, least privilege. RBAC cannot grant by label or type, so Secrets
// are granted whole, and used far less: the cache watches only hand-over Secrets (by label and
// type, metadata only), never Secret data; data is read for a hand-over being ingested and for
// Secrets a server's spec.headers or oauth.clientSecretRef name, which must opt in with the
// mcpproxy.dev/allowed-servers annotation; only hand-overs are deleted (a
// ValidatingAdmissionPolicy in config/admission enforces that). The leader-election lease is
// the namespaced leader-election Role's, not a cluster-wide rule. UpstreamCredentials are
// updated only in their metadata (finalizer, owner reference to their server) and status, and
// deleted only with their server (its finalizer deletes them first, so each revokes its token
// while the server's binding can still find it).

// +kubebuilder:rbac:groups=mcp.mcpproxy.dev,resources=upstreamservers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=mcp.mcpproxy.dev,resources=upstreamservers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mcp.mcpproxy.dev,resources=upstreamservers/finalizers,verbs=update
// +kubebuilder:rbac:groups=mcp.mcpproxy.dev,resources=upstreamcredentials,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=mcp.mcpproxy.dev,resources=upstreamcredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mcp.mcpproxy.dev,resources=upstreamcredentials/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
