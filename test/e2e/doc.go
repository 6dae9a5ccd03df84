// Package e2e proves, with the real binaries as separate processes, that mcpproxy-operator has
// none of the three classic MCP client OAuth bugs (an expired token not refreshed on
// reconnection, concurrent flows corrupting state, browser rate limiting blocking logins), that
// crashes and authorization server outages lose nothing, that per-person credentials let each
// workload act upstream as its own person, and that no secret leaks.
//
// TestMain builds bin/manager, bin/mcpproxy and the test/oauthserver binary into a temporary
// directory, starts a control plane (etcd and kube-apiserver from KUBEBUILDER_ASSETS) and runs
// the scenarios of TestMCPClientBugs in order, each with its own namespace, OAuth server
// processes and manager process (kubeconfig file, own token store). The test binary itself
// plays $BROWSER. Assertions read the API server (a watch records every status write), the
// OAuth server's /admin/stats, and the token store file once the manager has stopped.
//
// Per-person credentials (scenario 6, issue 17) run the manager's gateway as in a cluster:
// every caller presents a ServiceAccount token from the TokenRequest API, checked with
// TokenReview and SubjectAccessReview (verb use, granted by a Role), with no loopback exemption,
// and the credential admission policies (binding, creator) are in force. `mcpproxy auth login gh
// --for serviceaccount/NS/agent-a --login-hint alice` (and bob for agent-b) logs in; whoami
// through /servers/NS/gh/mcp and /mcp answers each agent's own user across refreshes of each
// credential; agent-c, with use but no credential, is told its exact login command; `mcpproxy
// auth logout credential/…` of alice's leaves bob working, agent-a told to log in, and the
// command it was told logs it in again; no refresh token is spent twice. The leak check also
// scans what the gateway answered its callers, the credentials' statuses, and looks for the
// callers' ServiceAccount tokens.
//
// `make test` runs it (go test ./...). go test -v ./test/e2e prints the summary table; one
// scenario alone: -run 'TestMCPClientBugs/per-person' (the leak check needs them all);
// E2E_KEEP=1 keeps the run directory (logs, snapshots, stores); E2E_RACE=1 builds the binaries
// under test with -race.
package e2e
