package controllers

import (
	"context"
	"net/http"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"

	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// TokenStore is the persisted token records, as the reconciler uses them (internal/tokenstore).
type TokenStore = lifecycle.Store

// OAuthClient is the network side of OAuth, as the reconciler uses it (internal/oauth).
type OAuthClient = lifecycle.OAuth

// HTTPOAuthClient is the OAuthClient that talks to real authorization servers.
type HTTPOAuthClient struct {
	// HTTPClient is used for every request; nil means internal/oauth's default with timeouts.
	HTTPClient *http.Client
}

// Discover runs MCP authorization discovery.
func (c HTTPOAuthClient) Discover(ctx context.Context, cfg oauth.Config) (*oauth.Discovery, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = c.HTTPClient
	}
	return oauth.Discover(ctx, cfg)
}

// Refresh spends a refresh token.
func (c HTTPOAuthClient) Refresh(ctx context.Context, r oauth.RefreshRequest) (*oauth.Token, error) {
	if r.HTTPClient == nil {
		r.HTTPClient = c.HTTPClient
	}
	return oauth.Refresh(ctx, r)
}

// Revoke revokes a token (RFC 7009).
func (c HTTPOAuthClient) Revoke(ctx context.Context, endpoint string, client oauth.ClientRegistration, token, hint string) error {
	return oauth.Revoke(ctx, endpoint, client, token, hint, c.HTTPClient)
}

// LoginStarter starts a browser login for a server outside the reconcile (manager
// --browser-login). Implementations run at most one flow per server, open the browser at most
// once per server per rate window, and deliver the result as a hand-over Secret, so the token
// takes the same compare-and-swap path as `mcpproxy auth login`. RequestLogin must not block.
type LoginStarter interface {
	RequestLogin(us *mcpv1alpha1.UpstreamServer, cfg oauth.Config)
}
