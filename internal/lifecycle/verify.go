package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// verifyEndpoints checks a handed-over token against what the MCP server itself names as its
// authorization server. A hand-over is written by a person's CLI; were its issuer or endpoints
// taken on trust, whoever could write one would choose where the controller sends the
// refresh token and the client secret, and whose account every workload acts as.
func (r *Runner) verifyEndpoints(ctx context.Context, p Pass, rec *tokenstore.Record) error {
	cfg := p.Facts.Config.OAuth
	cfg.Logger = p.Log
	bound := r.DiscoveryTimeout
	if bound <= 0 {
		bound = DefaultDiscoveryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	d, err := r.OAuth.Discover(ctx, cfg)
	switch {
	case err != nil:
		return fmt.Errorf("its authorization server could not be verified (%s); log in again", oauth.Redact(err.Error()))
	case d.NoAuthRequired:
		return errors.New("the server needs no authorization, so a token for it cannot be accepted")
	}
	return endpointsMatch(rec, d)
}

// endpointsMatch is the pure comparison: issuer and token endpoint must be the discovered
// ones, a revocation endpoint too when the record names one.
func endpointsMatch(rec *tokenstore.Record, d *oauth.Discovery) error {
	switch {
	case rec.Issuer != d.Issuer:
		return fmt.Errorf("it was issued by %s, but the server names %s", oauth.RedactURL(rec.Issuer), oauth.RedactURL(d.Issuer))
	case rec.TokenEndpoint != d.Metadata.TokenEndpoint:
		return fmt.Errorf("its token endpoint %s is not the authorization server's %s",
			oauth.RedactURL(rec.TokenEndpoint), oauth.RedactURL(d.Metadata.TokenEndpoint))
	case rec.RevocationEndpoint != "" && rec.RevocationEndpoint != d.Metadata.RevocationEndpoint:
		return fmt.Errorf("its revocation endpoint %s is not the authorization server's", oauth.RedactURL(rec.RevocationEndpoint))
	}
	return nil
}
