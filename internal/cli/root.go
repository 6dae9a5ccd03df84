// Package cli is the `mcpproxy` command: logging in to remote MCP servers on behalf of the
// controller (auth login/status/refresh/logout), for a server's shared token or for a person's
// UpstreamCredential of a PerSubject server (auth login --for), and probing an MCP server
// directly. It is one of the two places (with controllers/) that translate between Kubernetes
// objects and OAuth/MCP facts.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes of mcpproxy.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitTimedOut = 2
)

// ExitError carries a process exit code with its message.
type ExitError struct {
	Code int
	Err  error
}

// Error is the message of the wrapped error.
func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process exit code for err: 0 for nil, the ExitError's code, else ExitFailed.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailed
}

// Streams are the command's standard streams.
type Streams struct {
	In          io.Reader
	Out, ErrOut io.Writer
}

// StdStreams are the process's streams.
func StdStreams() Streams { return Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr} }

// Env is what the commands take from their surroundings; tests replace parts of it.
type Env struct {
	Streams
	// Now is the clock (time.Now).
	Now func() time.Time
	// PollInterval is how often a wait reads the server again (500ms).
	PollInterval time.Duration
	// OpenBrowser sends the user to a URL (browserlogin.OpenURL: $BROWSER, xdg-open, open).
	OpenBrowser func(url string) error
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
}

func (e *Env) defaults() {
	if e.Out == nil {
		e.Streams = StdStreams()
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.PollInterval <= 0 {
		e.PollInterval = 500 * time.Millisecond
	}
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
}

// Version is set at build time (-ldflags "-X .../internal/cli.Version=v1.2.3").
var Version = "dev"

// NewRootCommand builds the mcpproxy command tree.
func NewRootCommand(env Env) *cobra.Command {
	env.defaults()
	kf := &kubeFlags{}
	root := &cobra.Command{
		Use:           "mcpproxy",
		Short:         "Log in to remote MCP servers for mcpproxy-operator, and probe MCP servers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.In)
	root.SetOut(env.Out)
	root.SetErr(env.ErrOut)
	auth := &cobra.Command{Use: "auth", Short: "Log in to, inspect, refresh and log out of UpstreamServers and UpstreamCredentials"}
	kf.bind(auth)
	auth.AddCommand(newLoginCommand(&env, kf), newStatusCommand(&env, kf),
		newRefreshCommand(&env, kf), newLogoutCommand(&env, kf))
	root.AddCommand(auth, newProbeCommand(&env), &cobra.Command{
		Use:   "version",
		Short: "Print the mcpproxy version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintf(cmd.OutOrStdout(), "mcpproxy %s\n", Version) },
	})
	return root
}
