// Package e2e proves, with the real binaries as separate processes, that mcpproxy-operator has
// none of the three classic MCP client OAuth bugs (an expired token not refreshed on
// reconnection, concurrent flows corrupting state, browser rate limiting blocking logins), that
// crashes and authorization server outages lose nothing, and that no secret leaks.
//
// TestMain builds bin/manager, bin/mcpproxy and the test/oauthserver binary into a temporary
// directory, starts a control plane (etcd and kube-apiserver from KUBEBUILDER_ASSETS) and runs
// the scenarios of TestMCPClientBugs in order, each with its own namespace, OAuth server
// processes and manager process (kubeconfig file, own token store). The test binary itself
// plays $BROWSER. Assertions read the API server (a watch records every status write), the
// OAuth server's /admin/stats, and the token store file once the manager has stopped.
//
// `make test` runs it (go test ./...). go test -v ./test/e2e prints the summary table;
// E2E_KEEP=1 keeps the run directory (logs, snapshots, stores); E2E_RACE=1 builds the binaries
// under test with -race.
package e2e
