// Package bench measures how the controller scales with the number of UpstreamServers (issue 11)
// and of per-subject UpstreamCredentials (issues 17 and 18), and what high availability costs
// (issue 19: RunHA).
//
// Run drives the real binaries: a local control plane (internal/testenv/controlplane), test/oauthserver in this
// process (its token endpoint wrapped by a recorder), and bin/manager as a child process. For each
// N it seeds N logged-in servers through hand-over Secrets, watches a steady state for a few token
// lifetimes, restarts the manager mid-cycle (cold start), stops it until every token has expired
// and starts it again (catch-up, with N sessions to reopen), asks every server to refresh at once
// through the refresh-requested-at annotation (burst: refresh throughput with live sessions), and,
// for one N, measures
// the MCP gateway against the upstream called directly. Then, on a control plane of its own, the
// per-subject run spreads M logged-in UpstreamCredentials over K PerSubject servers (credential
// hand-overs, one upstream user each), watches the same steady state for them, and measures
// the manager's memory per credential. The figures are written as JSON, a Markdown table and a
// PNG chart (credentials.json and credentials.md when no N ran). `make bench` runs cmd/bench;
// TestBenchSmoke runs a reduced configuration in `go test ./...` so the harness cannot rot.
//
// The HA run (RunHA, `bench -ha`) takes setups of token store and manager replicas: one manager
// on a bbolt file, or replicas with leader election on the Secrets store, each setup on a
// control plane of its own. It measures the gateway with the clients' sessions spread over the
// replicas round robin (as a Service spreads them), a refresh burst, and then a window of
// scheduled refreshes, with the API writes of each refresh split by the managers' and the API
// server's own counters (a status patch, a token Secret, the rest), and the CPU that every
// process on the machine (the replicas, kube-apiserver, etcd, the harness) used meanwhile.
//
// How lateness is measured: the recorder notes, per token holder, when each refresh request
// reached the token endpoint and when its answer left. A server has an OAuth client of its own;
// the credentials of a PerSubject server share its client, so the recorder follows each
// credential's refresh-token chain. The planned time of a
// refresh is the controller's own formula (lifecycle.RefreshTime) applied to the previous token:
// issued when the previous request arrived (the seed token: its hand-over's createdAt), expiring
// expires_in after its answer. Lateness is arrival minus planned. A token that expired in the
// window without a refresh counts as not refreshed before expiry, with its lateness censored at
// the end of the window.
package bench
