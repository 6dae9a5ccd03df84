// Command mcpproxy logs a person in to remote MCP servers on behalf of mcpproxy-operator
// (`mcpproxy auth login NAME`, or `--for` Kubernetes subjects of a PerSubject server), shows
// and steers the controller's tokens (auth status, refresh, logout), and probes MCP servers
// directly (`mcpproxy probe URL`).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcpproxy/mcpproxy-operator/internal/cli"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCommand(cli.Env{}).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", oauth.Redact(err.Error()))
	}
	os.Exit(cli.ExitCode(err))
}
