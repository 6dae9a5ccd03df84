package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// printNextSteps tells the user, copy-pasteably, how to watch and log in.
func printNextSteps(out io.Writer, cfg config, kubeconfig string, earlierStore bool) {
	cli := filepath.Join(relBin(cfg.binDir), "mcpproxy")
	login := cli + " auth login " + demoName
	if cfg.autoApprove {
		login = "BROWSER=" + filepath.Join(relBin(cfg.binDir), "dev-follow") + " " + login
	}
	fmt.Fprintf(out, `
==> The demo is up. UpstreamServer %s/%s points at %s/mcp.
    In another terminal:

      export KUBECONFIG=%s
      kubectl get us -w
      %s

`, demoNamespace, demoName, cfg.oauthURL(), kubeconfig, login)
	fmt.Fprintf(out, "    MCP gateway to the demo server: http://%s/servers/%s/%s/mcp\n", cfg.gatewayAddr, demoNamespace, demoName)
	if cfg.gatewayNoAuth {
		fmt.Fprintf(out, "    (DEV_GATEWAY_NOAUTH is on: loopback callers need no token.)\n\n")
	} else {
		fmt.Fprintf(out, "    (callers need a Kubernetes bearer token; DEV_GATEWAY_NOAUTH=1 lets loopback callers in without one.)\n\n")
	}
	if _, err := os.Stat(filepath.Join(cfg.binDir, "mcpproxy")); err != nil {
		fmt.Fprintf(out, "    (%s is not built yet: the CLI has not landed in cmd/mcpproxy.)\n\n", cli)
	}
	if cfg.autoApprove {
		fmt.Fprintf(out, "    DEV_AUTO_APPROVE is on: no consent page; bin/dev-follow plays the browser.\n\n")
	} else {
		fmt.Fprintf(out, "    The login opens the consent page in your browser (DEV_AUTO_APPROVE=1 skips it).\n\n")
	}
	if earlierStore {
		fmt.Fprintf(out, "    The token store from an earlier run is kept, but the demo OAuth server starts empty,\n"+
			"    so it rejects the old refresh token: expect AuthorizationRequired and log in again.\n\n")
	}
	fmt.Fprintf(out, "    Tokens live %s; refreshes and status changes show below. Logs: %s/{manager,oauthserver}.log\n"+
		"    Ctrl-C stops everything.\n\n", cfg.tokenTTL, cfg.dir)
}

// relBin shortens the binary directory to a path relative to the working directory when it
// is below it, so the printed commands stay short.
func relBin(dir string) string {
	wd, err := os.Getwd()
	if err != nil {
		return dir
	}
	if rel, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return dir
}
