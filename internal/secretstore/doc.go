// Package secretstore is the token store on Kubernetes Secrets (manager
// --token-store-backend=secrets), the second implementation of tokenstore.Backend next to the
// embedded bbolt file. It passes the same contract tests (internal/tokenstore/storetest) and
// keeps the same guarantees; what differs is how.
//
// # Where records live
//
// One Secret per record, all in one namespace: the manager's own (--token-store-namespace,
// default the pod's). Not next to each server, because a tenant who may edit Secrets in their
// namespace could then replay an old sealed record (rolling a refresh token back) or delete one;
// in the manager's namespace only its administrators can. Owner references cannot cross
// namespaces, so a record is not garbage-collected with its server: the finalizers that already
// call DeleteServer (UpstreamServer and UpstreamCredential) remove it, as they do in bbolt.
//
//	name         mcpproxy-token-<40 hex of sha256(storage key)>
//	type         mcpproxy.dev/token
//	label        mcpproxy.dev/token-server: <40 hex of sha256("namespace/name/")>  (DeleteServer selects by it)
//	annotation   mcpproxy.dev/token-key: namespace/name/bindinghash           (the storage key, for people and export)
//	data.record  the sealed value, byte for byte what bbolt stores
//
// The value is sealed with the store's key file exactly as bbolt seals it (tokenstore.Keyring:
// storage key, revision, key ID and binding authenticated as AES-GCM additional data), so it is
// encrypted whatever the cluster's encryption at rest, a value copied under another name or
// with another revision fails to open, and `manager migrate-store` copies bytes.
//
// # Revisions and compare-and-swap
//
// The revision lives in the sealed header. A save writes revision
//
//	max(current revision + 1, floor + 1)
//
// where floor is the highest resourceVersion (or revision) this store has seen: its informer's
// list and events, its own writes and reads, and, for a create, a consistent list made just
// before it. Resource versions are comparable integers (Kubernetes' resourceversion package),
// and a write's resourceVersion exceeds every one before it, so each revision is at most the
// resourceVersion of the write that stored it. Hence revisions increase per record on every
// replica, and a record deleted and created again gets a revision above all its old ones,
// whichever replica deleted it: a writer holding a pre-delete revision always loses (as in
// bbolt, revisions are never reused). Only records copied in from bbolt with revisions above
// the cluster's resourceVersion fall outside that argument; their own successors still rise.
//
// The swap itself is the API server's: Update carries the resourceVersion the current
// revision was read with, Create fails if the Secret exists. A 409 (or a 404 for an update)
// re-reads the record from the API server, not from the possibly stale informer, and answers
// the same *tokenstore.ConflictError as bbolt when the revision moved; when only the object
// moved (a reseal), it tries again. A revision that differs in the cache is also confirmed with
// the API server before it is reported as a conflict.
//
// # Reads
//
// Load reads a map kept by an informer restricted to the namespace, the type and the label.
// Every write this store makes (and every read from the API server) goes into the same map,
// merged by resourceVersion, so a replica's own save is visible to its next Load at once and an
// older informer event never hides a newer write; a delete leaves a tombstone until the
// informer has caught up. The informer's events announce each changed key, so WaitNewer wakes
// on a save made by any replica, without polling.
//
// # Performance
//
// go test -bench . -benchtime 400x on envtest (kube-apiserver and etcd on the same 2 shared
// vCPUs, load average about 9; envtest runs etcd with --unsafe-no-fsync, so a real cluster's
// fsync adds to each save), 1 store:
//
//	Save, 1 goroutine      2.3 ms/op  (~430 saves/s; bbolt with fsync: 0.85 ms, without: 78 µs)
//	Save, 32 goroutines    1.3 ms/op  (~760 saves/s)
//	Load                   5.7 µs/op  (a map lookup and AES-GCM; no API call)
//
// A controller refreshing 10,000 tokens an hour needs about 3 saves a second. The store's
// client has its own rate limit (50 requests/s, burst 100) unless the configuration sets one.
//
// # Secrets
//
// Only sealed bytes leave the process; errors name records by namespace/name@bindinghash and
// Secret name, never their contents.
package secretstore
