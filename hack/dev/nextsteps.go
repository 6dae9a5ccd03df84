package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// printNextSteps tells the user, copy-pasteably, how to watch, log in and call the gateway as
// a workload. docs/getting-started.md shows this banner and its test checks it line by line.
// It is written at once, so no line of the manager's log lands in the middle.
func printNextSteps(w io.Writer, cfg config, kubeconfig string, earlierStore bool) {
	var out bytes.Buffer
	defer func() { _, _ = w.Write(out.Bytes()) }()
	bin := relBin(cfg.binDir)
	cli := filepath.Join(bin, "mcpproxy")
	login := cli + " auth login " + demoName
	if cfg.autoApprove {
		login = "BROWSER=" + filepath.Join(bin, "dev-follow") + " " + login
	}
	fmt.Fprintf(&out, `
==> The demo is up. UpstreamServer %s/%s points at %s/mcp.
    In another terminal:

      export KUBECONFIG=%s
      kubectl get us -w
      %s

`, demoNamespace, demoName, cfg.oauthURL(), kubeconfig, login)
	gateway := fmt.Sprintf("http://%s/servers/%s/%s/mcp", cfg.gatewayAddr, demoNamespace, demoName)
	if cfg.gatewayNoAuth {
		fmt.Fprintf(&out, "    Then call the demo server through the MCP gateway (DEV_GATEWAY_NOAUTH is on: loopback\n"+
			"    callers need no token):\n\n      %s probe %s\n\n", cli, gateway)
	} else {
		fmt.Fprintf(&out, `    Then call the demo server through the MCP gateway as a workload does, with the token of a
    ServiceAccount allowed verb "use" on it (a Role in YAML: kubectl create role refuses --verb=use):

      kubectl create serviceaccount %s
      kubectl apply -f %s
      kubectl create token %s | %s probe --token-file - %s

`, demoAgent, rbacSample(cfg), demoAgent, cli, gateway)
	}
	if _, err := os.Stat(filepath.Join(cfg.binDir, "mcpproxy")); err != nil {
		fmt.Fprintf(&out, "    (%s is not built yet: the CLI has not landed in cmd/mcpproxy.)\n\n", cli)
	}
	if cfg.autoApprove {
		fmt.Fprintf(&out, "    DEV_AUTO_APPROVE is on: no consent page; bin/dev-follow plays the browser.\n\n")
	} else {
		fmt.Fprintf(&out, "    The login opens the consent page in your browser (DEV_AUTO_APPROVE=1 skips it).\n\n")
	}
	if earlierStore {
		fmt.Fprintf(&out, "    The token store from an earlier run is kept, but the demo OAuth server starts empty,\n"+
			"    so it rejects the old refresh token: expect AuthorizationRequired and log in again.\n\n")
	}
	fmt.Fprintf(&out, "    Tokens live %s; refreshes and status changes show below. Logs: %s/{manager,oauthserver}.log\n"+
		"    docs/getting-started.md walks through the rest. Ctrl-C stops everything.\n\n", cfg.tokenTTL, cfg.dir)
}

// demoAgent is the ServiceAccount the banner and the gateway RBAC sample let use the demo.
const demoAgent = "demo-agent"

// rbacSample is config/samples/gateway_rbac_demo.yaml, found next to the CRDs and shortened
// like the binaries' paths.
func rbacSample(cfg config) string {
	return relBin(filepath.Join(filepath.Dir(filepath.Dir(cfg.crdDir)), "samples", "gateway_rbac_demo.yaml"))
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
