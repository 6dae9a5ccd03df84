// Package tokenstore keeps each MCP server's OAuth state in a bbolt file. It
// is the only copy of a rotating refresh token, so it is built to never lose
// an acknowledged save and never let an older token overwrite a newer one.
//
// # Keys
//
// A record is stored under "namespace/name/bindinghash", where the binding
// hash is a short sha256 of the server URL, issuer, client ID and resource
// (see Binding). A token saved for one URL is therefore never found under
// another, and DeleteServer("ns", "a") cannot touch server "ns/a-b".
//
// # Guarantees
//
//   - Compare-and-swap: Save names the revision it replaces and fails with a
//     *ConflictError if the stored revision moved. Revisions come from one
//     store-wide counter and are never reused, even after a delete.
//   - Durable before acknowledged: Save returns after bbolt committed and
//     fsynced. Concurrent writes are group-committed by one writer goroutine
//     and share fsyncs.
//   - Encrypted at rest: values are sealed with AES-256-GCM; the key ID is
//     stored with each value, so keys rotate by listing a new key first in
//     the key file and keeping old ones below it.
//   - Opening never hangs: a second process gets ErrLocked after
//     Options.OpenTimeout. A damaged file gets ErrCorruptFile and is left
//     untouched; a damaged or undecryptable record gets a
//     *CorruptRecordError for that record alone.
//   - Secrets never reach fmt, logr, slog or error messages.
package tokenstore
