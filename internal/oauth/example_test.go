package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// The CLI logs in once on the user's machine and hands the result over for storage.
func ExampleLogin() {
	ctx := oauth.WithCorrelationID(context.Background(), oauth.NewCorrelationID())
	res, err := oauth.Login(ctx, oauth.Config{ServerURL: "https://mcp.example.com/mcp"}, oauth.LoginOptions{
		OpenBrowser: func(authURL string) error { fmt.Println("open", authURL); return nil },
		Timeout:     5 * time.Minute,
	})
	switch {
	case errors.Is(err, oauth.ErrNoAuthRequired):
		return // nothing to store
	case err != nil:
		fmt.Println(err) // already free of secrets
		return
	}
	// Persist res.Token, res.Client (keyed by res.Client.Issuer) and res.Discovery.
	_ = res
}

// The controller refreshes when its plan says so, and decides from the error class.
func ExampleRefresh() {
	var stored oauth.LoginResult // loaded from the token store
	req := stored.RefreshRequest()
	req.Now = time.Now
	tok, err := oauth.Refresh(context.Background(), req)
	switch {
	case errors.Is(err, oauth.ErrPermanent):
		// Ask a person to log in again; the refresh token is dead.
	case errors.Is(err, oauth.ErrTransient):
		// Keep the refresh token; retry after max(backoff, oauth.RetryAfterOf(err)).
	case err == nil:
		// Save tok durably before using tok.AccessToken.
		_ = tok
	}
}
