package secretstore

// The manager's permissions for this backend, only in its own namespace (the kustomize
// namespace "system" becomes the deployment's; the chart renders the same rules in the release
// namespace when tokenStore.backend is secrets). `make manifests` generates
// config/rbac/token_store/role.yaml from these markers. Deletions are also limited by the
// manager-secret-deletes admission policy: token Secrets only in the manager's own namespace.

// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=get;list;watch;create;update;delete
