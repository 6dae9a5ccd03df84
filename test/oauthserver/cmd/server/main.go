// Command server runs the oauthserver test authorization server and MCP
// server until interrupted:
//
//	go run ./test/oauthserver/cmd/server -port 9000 -access-token-ttl=30s
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oauthserver:", err)
		os.Exit(1)
	}
}

// cmdFlags are the flags that need checking or converting before they
// become Options, plus where to listen, which Options does not cover.
type cmdFlags struct {
	clients listFlag
	redir   listFlag
	scopes  string
	prm     string
	port    int
	host    string
	verbose bool
}

func run() error {
	var o oauthserver.Options
	f := defineFlags(&o)
	flag.Parse()
	if err := f.apply(&o); err != nil {
		return err
	}

	srv := oauthserver.New(o)
	if err := srv.Start(net.JoinHostPort(f.host, strconv.Itoa(f.port))); err != nil {
		return err
	}
	fmt.Printf("issuer:  %s\nmcp:     %s\nsse:     %s\nprm:     %s\nadmin:   %s/admin/stats\n",
		srv.Issuer(), srv.MCPURL(), srv.SSEURL(), srv.PRMURL(), srv.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return srv.Close()
}

// defineFlags registers the command line on the default flag set: flags
// that map one to one onto Options write into o directly, the rest into
// the returned cmdFlags for apply.
func defineFlags(o *oauthserver.Options) *cmdFlags {
	f := &cmdFlags{}
	flag.IntVar(&f.port, "port", 9000, "port to listen on")
	flag.StringVar(&f.host, "host", "127.0.0.1", "address to listen on")
	flag.BoolVar(&f.verbose, "v", false, "log every request (paths only, never secrets)")
	flag.StringVar(&o.BaseURL, "base-url", "", "external base URL when clients reach the server by another name (default http://<host>:<port>)")
	flag.BoolVar(&o.AdminAnyHost, "admin-any-host", false, "serve /admin/ to non-loopback clients too (for containers)")
	flag.StringVar(&o.IssuerPath, "issuer-path", "", "issuer path, e.g. /tenant1, forcing path-insertion discovery")
	flag.DurationVar(&o.AccessTokenTTL, "access-token-ttl", 0, "access token lifetime (default 1h)")
	flag.DurationVar(&o.RefreshTokenTTL, "refresh-token-ttl", 0, "refresh token lifetime (default 720h)")
	flag.DurationVar(&o.RefreshReuseGrace, "refresh-reuse-grace", 0, "how long a rotated refresh token still works")
	flag.DurationVar(&o.TokenDelay, "token-delay", 0, "delay every token answer, to make racing refreshes visible")
	flag.BoolVar(&o.NoRefreshToken, "no-refresh-token", false, "issue no refresh tokens")
	flag.BoolVar(&o.NoRotation, "no-rotation", false, "keep refresh tokens across refreshes")
	flag.BoolVar(&o.AutoApprove, "auto-approve", false, "skip the consent page (the user is the request's login_hint, else -default-user)")
	flag.StringVar(&o.Subject, "default-user", "", "user of grants whose request names none (no login_hint; default test-user)")
	flag.BoolVar(&o.NoDCR, "no-dcr", false, "disable dynamic client registration")
	flag.BoolVar(&o.NoAuth, "no-auth", false, "serve /mcp and /sse without authentication")
	flag.BoolVar(&o.AllowMissingResource, "allow-missing-resource", false, "bind grants without a resource parameter to /mcp")
	flag.BoolVar(&o.HideResourceMetadata, "hide-resource-metadata", false, "leave resource_metadata out of WWW-Authenticate")
	flag.Var(&f.clients, "client", "pre-register a client as id:secret (id: for a public client); repeatable")
	flag.Var(&f.redir, "redirect-uri", "extra redirect URI for pre-registered clients; repeatable")
	flag.StringVar(&f.scopes, "scopes", "", "space-separated supported scopes (default: mcp profile offline_access)")
	flag.StringVar(&o.RequiredScope, "required-scope", "", "scope every MCP request needs (default mcp)")
	flag.StringVar(&o.WhoamiScope, "whoami-scope", "", "scope the whoami tool needs (default profile)")
	flag.StringVar(&f.prm, "prm", "path", "where protected resource metadata lives: path, root or header")
	return f
}

// apply moves the parsed flags into o, refusing malformed -client and -prm
// values rather than starting a server that behaves unlike what was asked.
func (f *cmdFlags) apply(o *oauthserver.Options) error {
	o.Scopes = strings.Fields(f.scopes)
	o.RedirectURIs = f.redir
	o.Clients = map[string]string{}
	for _, c := range f.clients {
		id, secret, ok := strings.Cut(c, ":")
		if !ok || id == "" {
			return fmt.Errorf("-client %q: want id:secret", c)
		}
		o.Clients[id] = secret
	}
	switch f.prm {
	case "path":
		o.PRMMode = oauthserver.PRMWellKnownPath
	case "root":
		o.PRMMode = oauthserver.PRMRoot
	case "header":
		o.PRMMode = oauthserver.PRMHeaderOnly
	default:
		return fmt.Errorf("-prm %q: want path, root or header", f.prm)
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return nil
}
