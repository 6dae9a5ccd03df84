package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// TokenStoreEnv overrides where `mcpproxy probe` keeps its tokens.
const TokenStoreEnv = "MCPPROXY_TOKEN_STORE"

// probeNamespace is the token store "namespace" of probe records; it is not a Kubernetes one.
const probeNamespace = "probe"

type probeOptions struct {
	cfg        oauth.Config
	tokenStore string
	transport  string
	noBrowser  bool
	timeout    time.Duration
	// tokenFile holds a bearer token to send as it is ("-": standard input), such as a
	// Kubernetes ServiceAccount token for the mcpproxy gateway: no store, no discovery, no login.
	tokenFile string
}

func newProbeCommand(env *Env) *cobra.Command {
	o := &probeOptions{}
	cmd := &cobra.Command{
		Use:   "probe URL",
		Short: "Connect to an MCP server directly (logging in if it asks) and list its tools",
		Long: "Connects to an MCP server without any cluster: runs discovery and the login when the server asks for\n" +
			"one, then prints the server's name, version, protocol version and tools. Tokens are kept in a local\n" +
			"encrypted file so the next probe reuses (and refreshes) them. With --token-file the probe sends that\n" +
			"bearer token instead (a ServiceAccount token for the mcpproxy gateway, say) and never logs in.\n" +
			"Exit code 0 only when the server answered initialize and tools/list.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cfg.ServerURL = args[0]
			return runProbe(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cfg.ClientID, "client-id", "", "Pre-registered OAuth client ID.")
	f.StringVar(&o.cfg.ClientSecret, "client-secret", "", "Client secret of a confidential pre-registered client.")
	f.StringVar(&o.cfg.ClientMetadataURL, "client-metadata-url", "", "https URL of a Client ID Metadata Document to use as the client ID.")
	f.StringArrayVar(&o.cfg.Scopes, "scope", nil, "Scope to request (repeatable); default: the server's challenge or advertised scopes.")
	f.StringVar(&o.cfg.Resource, "resource", "", "RFC 8707 resource indicator (default: the canonical server URL).")
	f.StringVar(&o.cfg.AuthorizationServer, "authorization-server", "", "Issuer URL; skips protected resource metadata discovery.")
	f.StringVar(&o.tokenStore, "token-store", "", "Token file (default: $"+TokenStoreEnv+", else <user config dir>/mcpproxy/probe-tokens.db).")
	f.StringVar(&o.transport, "transport", "streamable-http", "MCP transport: streamable-http or sse.")
	f.BoolVar(&o.noBrowser, "no-browser", false, "Only print the authorization URL; do not open a browser.")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "How long the whole probe, login included, may take.")
	f.StringVar(&o.tokenFile, "token-file", "", "Send the bearer token in this file (- reads standard input) instead of logging in, e.g. a ServiceAccount token for the gateway: kubectl create token SA | mcpproxy probe --token-file - URL.")
	return cmd
}

// probeStorePath is where probe tokens live.
func probeStorePath(env *Env, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := env.Getenv(TokenStoreEnv); v != "" {
		return v, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the user config directory (set --token-store or $%s): %w", TokenStoreEnv, err)
	}
	return filepath.Join(dir, "mcpproxy", "probe-tokens.db"), nil
}

// probeKey binds a probe token to the URL and the overrides it was obtained with.
func probeKey(cfg oauth.Config) tokenstore.Key {
	h := sha256.Sum256([]byte(cfg.ServerURL))
	return tokenstore.Key{Namespace: probeNamespace, Name: hex.EncodeToString(h[:8]), Binding: tokenstore.Binding{
		ServerURL: cfg.ServerURL, Issuer: cfg.AuthorizationServer, ClientID: cfg.ClientID, Resource: cfg.Resource,
	}}
}

func runProbe(ctx context.Context, env *Env, o *probeOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.tokenFile != "" {
		return probeWithToken(ctx, env, o)
	}
	if o.cfg.ClientSecret != "" {
		oauth.RegisterSecret(o.cfg.ClientSecret)
	}
	path, err := probeStorePath(env, o.tokenStore)
	if err != nil {
		return err
	}
	store, err := tokenstore.Open(path, tokenstore.Options{})
	if err != nil {
		return fmt.Errorf("opening the token store %s: %w", path, err)
	}
	defer func() { _ = store.Close() }()
	p := &prober{env: env, o: o, store: store, key: probeKey(o.cfg)}
	res, err := p.run(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, oauth.ErrLoginTimeout) {
			return &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("probe timed out: %s", oauth.Redact(err.Error()))}
		}
		return &ExitError{Code: ExitFailed, Err: errors.New(oauth.Redact(err.Error()))}
	}
	res.Auth = p.how
	printProbe(env, o.cfg.ServerURL, res)
	return nil
}

// maxTokenFileBytes bounds what --token-file reads: a ServiceAccount token is a few KiB.
const maxTokenFileBytes = 64 << 10

// probeWithToken connects with the token of --token-file, as a workload would: a refusal is
// reported, never answered with a login.
func probeWithToken(ctx context.Context, env *Env, o *probeOptions) error {
	c := o.cfg
	if c.ClientID != "" || c.ClientSecret != "" || c.ClientMetadataURL != "" || len(c.Scopes) > 0 || c.Resource != "" ||
		c.AuthorizationServer != "" || o.tokenStore != "" || o.noBrowser {
		return &ExitError{Code: ExitFailed, Err: errors.New("--token-file sends its token as it is: it takes none of the login flags")}
	}
	token, err := readTokenFile(env, o.tokenFile)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	oauth.RegisterSecret(token)
	res, err := dialProbe(ctx, c.ServerURL, o.transport, token)
	if refusal := refusalOf(err); refusal != nil {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("the server refused the token from %s (HTTP %d at %s)", o.tokenFile, refusal.Status, refusal.Method)}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &ExitError{Code: ExitTimedOut, Err: fmt.Errorf("probe timed out: %s", oauth.Redact(err.Error()))}
		}
		return &ExitError{Code: ExitFailed, Err: errors.New(oauth.Redact(err.Error()))}
	}
	res.Auth = "bearer token from " + o.tokenFile
	if o.tokenFile == "-" {
		res.Auth = "bearer token from standard input"
	}
	printProbe(env, c.ServerURL, res)
	return nil
}

// readTokenFile reads a bearer token from path, or from standard input for "-".
func readTokenFile(env *Env, path string) (string, error) {
	var r io.Reader = env.In
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("reading the token: %w", err)
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxTokenFileBytes+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("reading the token from %s: %w", path, err)
	case len(b) > maxTokenFileBytes:
		return "", fmt.Errorf("the token in %s is longer than %d bytes", path, maxTokenFileBytes)
	}
	token := strings.TrimSpace(string(b))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("%s holds no token (want one line, such as the output of kubectl create token)", path)
	}
	return token, nil
}

// prober holds one probe's state.
type prober struct {
	env   *Env
	o     *probeOptions
	store *tokenstore.Store
	key   tokenstore.Key
	rec   *tokenstore.Record
	// how says where the token came from, for the report.
	how string
}

// run connects with the stored token, a refreshed one, or a new login, in that order. A
// refusal (401, or 403 insufficient_scope) at any request, initialize or a later one such as
// tools/list, moves on to the next.
func (p *prober) run(ctx context.Context) (*probeResult, error) {
	rec, err := p.store.Load(p.key)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
	case err != nil:
		fmt.Fprintf(p.env.ErrOut, "Ignoring the stored token: %s\n", oauth.Redact(err.Error()))
	default:
		p.rec = rec
	}
	var refusal *mcpconn.ChallengeError
	now := p.env.Now()
	if upstream.TokenUsable(p.rec, now.Add(30*time.Second)) { // usable for a while yet
		p.how = "stored token"
		res, err := dialProbe(ctx, p.o.cfg.ServerURL, p.o.transport, p.rec.AccessToken)
		if refusal = refusalOf(err); refusal == nil {
			return res, err
		}
	}
	// A refresh brings no scope the grant lacks: an insufficient_scope refusal needs a login.
	if p.rec != nil && p.rec.RefreshToken != "" && !insufficientScope(refusal) {
		if err := p.refresh(ctx); err != nil {
			fmt.Fprintf(p.env.ErrOut, "Could not refresh the stored token (%s); logging in again\n", oauth.Redact(err.Error()))
		} else {
			p.how = "refreshed token"
			res, err := dialProbe(ctx, p.o.cfg.ServerURL, p.o.transport, p.rec.AccessToken)
			if refusal = refusalOf(err); refusal == nil {
				return res, err
			}
		}
	}
	return p.loginAndDial(ctx, refusal)
}

// loginAndDial logs in and connects. A server that lets initialize through without a token
// may refuse the next request (tools/list): the login then starts from that refusal, exactly
// as if initialize had been refused, and a 403 insufficient_scope steps up, at most
// oauth.MaxStepUpAttempts times.
func (p *prober) loginAndDial(ctx context.Context, refusal *mcpconn.ChallengeError) (*probeResult, error) {
	for attempt := 0; ; attempt++ {
		err := p.login(ctx, refusal)
		token := ""
		switch {
		case errors.Is(err, oauth.ErrNoAuthRequired):
			p.how = "no token needed"
		case err != nil:
			return nil, err
		case insufficientScope(refusal):
			p.how, token = "step-up login", p.rec.AccessToken
		default:
			p.how, token = "new login", p.rec.AccessToken
		}
		res, err := dialProbe(ctx, p.o.cfg.ServerURL, p.o.transport, token)
		next := refusalOf(err)
		// A token just issued and refused outright (401) would be refused again: only no
		// token yet, or a scope to add, is worth another login.
		if next == nil || attempt >= oauth.MaxStepUpAttempts || (token != "" && !insufficientScope(next)) {
			return res, err
		}
		fmt.Fprintf(p.env.ErrOut, "The server refused %s (HTTP %d); authorizing\n", next.Method, next.Status)
		refusal = next
	}
}

// insufficientScope reports whether r is a 403 insufficient_scope challenge.
func insufficientScope(r *mcpconn.ChallengeError) bool {
	if r == nil {
		return false
	}
	_, ok := oauth.InsufficientScope(r.Status, r.Header)
	return ok
}

// refresh spends the stored refresh token and saves the result before it is used.
func (p *prober) refresh(ctx context.Context) error {
	r := p.rec
	tok, err := oauth.Refresh(ctx, oauth.RefreshRequest{
		TokenEndpoint: r.TokenEndpoint, Resource: r.Resource, RefreshToken: r.RefreshToken, Now: p.env.Now,
		Client: oauth.ClientRegistration{ClientID: r.Client.ClientID, ClientSecret: r.Client.ClientSecret,
			AuthMethod: r.Client.AuthMethod, RedirectURI: r.Client.RedirectURI, Issuer: r.Issuer},
	})
	if err != nil {
		return fmt.Errorf("refreshing: %w", err)
	}
	next := *r
	next.AccessToken, next.RefreshToken, next.TokenType, next.Expiry = tok.AccessToken, tok.RefreshToken, tok.TokenType, tok.Expiry
	if len(tok.Scopes) > 0 {
		next.Scopes = tok.Scopes
	}
	next.RefreshedAt = p.env.Now()
	next.RefreshCount++
	return p.save(&next)
}

// login runs the interactive flow, reusing the stored client registration. After a refusal
// met later than initialize, discovery starts from it (oauth.Config.Challenge); after a 403
// insufficient_scope, the scope asked for adds the challenged one to what was granted.
func (p *prober) login(ctx context.Context, refusal *mcpconn.ChallengeError) error {
	cfg := p.o.cfg
	if refusal != nil {
		cfg.Challenge = &oauth.LaterChallenge{Status: refusal.Status, Header: refusal.Header}
		if challenged, ok := oauth.InsufficientScope(refusal.Status, refusal.Header); ok {
			granted := cfg.Scopes
			if len(granted) == 0 && p.rec != nil {
				granted = p.rec.Scopes
			}
			cfg.Scopes = oauth.StepUpScopes(granted, challenged)
		}
	}
	opts := oauth.LoginOptions{OpenBrowser: browserOpener(p.env, p.o.noBrowser), Now: p.env.Now}
	if deadline, ok := ctx.Deadline(); ok {
		opts.Timeout = time.Until(deadline)
	}
	if r := p.rec; r != nil && r.Client.ClientID != "" {
		opts.Registration = &oauth.ClientRegistration{ClientID: r.Client.ClientID, ClientSecret: r.Client.ClientSecret,
			AuthMethod: r.Client.AuthMethod, RedirectURI: r.Client.RedirectURI, Issuer: r.Issuer}
	}
	res, err := oauth.Login(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return p.save(&tokenstore.Record{
		AccessToken: res.Token.AccessToken, RefreshToken: res.Token.RefreshToken, TokenType: res.Token.TokenType,
		Expiry: res.Token.Expiry, Scopes: res.Token.Scopes, Issuer: res.Discovery.Issuer,
		TokenEndpoint: res.Discovery.Metadata.TokenEndpoint, RevocationEndpoint: res.Discovery.Metadata.RevocationEndpoint,
		Resource: res.Discovery.Resource, ServerURL: p.o.cfg.ServerURL, ObtainedAt: p.env.Now(), CorrelationID: res.CorrelationID,
		Client: tokenstore.ClientRegistration{ClientID: res.Client.ClientID, ClientSecret: res.Client.ClientSecret,
			AuthMethod: res.Client.AuthMethod, RedirectURI: res.Client.RedirectURI},
	})
}

// save writes rec over the record loaded (compare-and-swap) and makes it current.
func (p *prober) save(rec *tokenstore.Record) error {
	var expect uint64
	if p.rec != nil {
		expect = p.rec.Revision
	}
	rev, err := p.store.Save(p.key, rec, expect)
	if err != nil {
		return fmt.Errorf("saving the token: %w", err)
	}
	rec.Revision = rev
	p.rec = rec
	return nil
}

func printProbe(env *Env, url string, res *probeResult) {
	w := env.Out
	fmt.Fprintf(w, "Server:   %s %s\n", res.Name, res.Version)
	fmt.Fprintf(w, "URL:      %s\n", url)
	fmt.Fprintf(w, "Protocol: %s\n", res.ProtocolVersion)
	fmt.Fprintf(w, "Auth:     %s\n", res.Auth)
	fmt.Fprintf(w, "Tools (%d):\n", len(res.Tools))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, t := range res.Tools {
		fmt.Fprintf(tw, "  %s\t%s\n", t.Name, oneLine(t.Description))
	}
	_ = tw.Flush()
}
