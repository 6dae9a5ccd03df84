// Command devrun is `make dev`: the one-command demo. It starts, and on Ctrl-C stops in reverse
// order, a local control plane (envtest's etcd and kube-apiserver, CRDs installed, kubeconfig in
// DEV_DIR), the demo OAuth + MCP server (test/oauthserver), the controller (bin/manager) with its
// token store in DEV_DIR, and applies a sample UpstreamServer "demo" that points at the demo MCP
// server. It then prints what to do next and shows logins and refreshes as they happen.
//
// Settings come from the environment so `make dev DEV_TOKEN_TTL=10s` works:
//
//	DEV_DIR           state directory (default bin/dev): kubeconfig, tokens.db and its key, logs
//	DEV_OAUTH_PORT    port of the demo OAuth + MCP server (default 9000)
//	DEV_TOKEN_TTL     access token lifetime the demo server issues (default 30s)
//	DEV_AUTO_APPROVE  1 to skip the consent page (headless machines)
//	DEV_METRICS_ADDR  the controller's metrics address (default 127.0.0.1:18080)
//	DEV_PROBE_ADDR    the controller's health probe address (default 127.0.0.1:18081)
//	DEV_GATEWAY_ADDR  the controller's MCP gateway address (default 127.0.0.1:18090)
//	DEV_GATEWAY_NOAUTH 1 to let loopback callers use the gateway without a Kubernetes token
//	DEV_BROWSER_LOGIN 1 to let the controller open the browser itself (--browser-login)
//	DEV_VERBOSE       1 to show every controller log line, not just the interesting ones
//
// Binaries are taken from the directory of this executable (make puts them all in bin/).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := loadConfig()
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		err = run(ctx, cfg, os.Stdout)
		stop()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "make dev:", err)
		os.Exit(1)
	}
}
