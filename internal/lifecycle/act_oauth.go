package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// logout closes the session, revokes at the authorization server when it can, and deletes
// every stored token of the object.
func (r *Runner) logout(ctx context.Context, p Pass, rec *tokenstore.Record) Outcome {
	f := p.Facts
	r.Sessions.Close(f.Config.SessionKey)
	if rec != nil {
		r.Revoke(ctx, p.Log, rec)
	}
	if _, err := r.Store.DeleteServer(f.Key.Namespace, f.Key.Name); err != nil {
		return Outcome{Err: err, StoreErr: fmt.Errorf("deleting the token on logout: %w", err)}
	}
	forgetReplaced(rec, nil)
	r.ForgetServer(f.Key.Namespace, f.Key.Name)
	p.Log.Info("Logged out")
	return Outcome{}
}

// Revoke asks the authorization server to revoke the refresh token (which also ends the
// access tokens of the grant on most servers), else the access token. Failures are logged, not
// fatal: the local copy is deleted either way.
func (r *Runner) Revoke(ctx context.Context, log logr.Logger, rec *tokenstore.Record) {
	if rec.RevocationEndpoint == "" {
		return
	}
	token, hint := rec.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = rec.AccessToken, "access_token"
	}
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	client := oauth.ClientRegistration{ClientID: rec.Client.ClientID, ClientSecret: rec.Client.ClientSecret,
		AuthMethod: rec.Client.AuthMethod, Issuer: rec.Issuer}
	if err := r.OAuth.Revoke(ctx, rec.RevocationEndpoint, client, token, hint); err != nil {
		log.Info("Revocation failed; deleting the local token anyway", "reason", oauth.Redact(err.Error()))
	}
}

// discover finds out how the server is protected; from challenge, when a connect without a
// token met a refusal after initialize, since a probe of initialize would say "no auth".
func (r *Runner) discover(ctx context.Context, p Pass, challenge *oauth.LaterChallenge) Outcome {
	id := oauth.NewCorrelationID()
	ctx = oauth.WithCorrelationID(ctx, id)
	cfg := p.Facts.Config.OAuth
	cfg.Challenge = challenge
	cfg.Logger = p.Log // internal/oauth adds the correlation ID from ctx
	bound := r.DiscoveryTimeout
	if bound <= 0 {
		bound = DefaultDiscoveryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	d, err := r.OAuth.Discover(ctx, cfg)
	if err != nil {
		p.Log.Info("Discovery failed", "correlationID", id, "reason", oauth.Redact(err.Error()))
		return Outcome{Err: err}
	}
	return Outcome{Discovery: d}
}

// refresh spends the refresh token once and saves the result (compare-and-swap) before
// anything uses it. A conflict means a newer token was saved meanwhile (a login landed): that
// one wins and is reloaded. Any other save failure keeps the token in memory, saved first on
// the next pass: a rotated refresh token is never dropped.
func (r *Runner) refresh(ctx context.Context, p Pass, rec *tokenstore.Record) Outcome {
	f := p.Facts
	id := oauth.NewCorrelationID()
	ctx = oauth.WithCorrelationID(ctx, id)
	log := p.Log.WithValues("correlationID", id)
	started := r.Now()
	// Once sent, a refresh must be seen through: the authorization server rotates the refresh
	// token whether or not we read its answer, so abandoning the request when the manager shuts
	// down would lose the only working refresh token. Shutdown waits for the pass instead.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RefreshTimeout)
	defer cancel()
	tok, err := r.OAuth.Refresh(rctx, refreshRequest(f, rec, r.Now, p.Log))
	out := Outcome{CorrelationID: id, Duration: r.Now().Sub(started)}
	if err != nil {
		out.Err, out.Permanent, out.RetryAfter = err, oauth.IsPermanent(err), oauth.RetryAfterOf(err)
		log.Info("Refresh failed", "permanent", out.Permanent, "reason", failureReason(err))
		return out
	}
	next := refreshed(rec, tok, f.Now, id)
	rev, saved, err := r.save(f.Key, next, rec.Revision)
	out.Saved = saved
	switch {
	case errors.Is(err, tokenstore.ErrConflict):
		log.Info("Discarded a refreshed token: a newer token was saved meanwhile")
		out.Conflict = true
		if newer, lerr := r.Store.Load(f.Key); lerr == nil {
			out.Record = newer
		}
		return out
	case err != nil:
		r.keepUnsaved(f.Key, next, rec.Revision)
		log.Error(err, "Failed to save a refreshed token; it is kept in memory and saved first next time")
		out.StoreErr = err
		return out
	}
	next.Revision = rev
	out.Record = next
	forgetReplaced(rec, next)
	log.Info("Refreshed token", "expiresIn", until(next.Expiry, f.Now), "refreshCount", next.RefreshCount)
	// The session takes the token only if it was dialled for the URL the token is bound to: a
	// session left over from another target never receives it.
	bound := next.ServerURL
	if bound == "" {
		bound = f.Key.Binding.ServerURL
	}
	if s := r.Sessions.Get(f.Config.SessionKey); s != nil {
		s.SetTokenFor(bound, next.AccessToken)
	}
	return out
}

func refreshRequest(f *Facts, rec *tokenstore.Record, now func() time.Time, log logr.Logger) oauth.RefreshRequest {
	return oauth.RefreshRequest{
		TokenEndpoint: rec.TokenEndpoint,
		Resource:      rec.Resource,
		Client: oauth.ClientRegistration{ClientID: rec.Client.ClientID, ClientSecret: clientSecret(rec, f.Config.OAuth),
			AuthMethod: rec.Client.AuthMethod, RedirectURI: rec.Client.RedirectURI, Issuer: rec.Issuer},
		RefreshToken: rec.RefreshToken,
		Now:          now,
		Logger:       log,
	}
}

// refreshed is rec after a successful refresh answered tok.
func refreshed(rec *tokenstore.Record, tok *oauth.Token, now time.Time, id string) *tokenstore.Record {
	next := *rec
	next.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		next.RefreshToken = tok.RefreshToken
	}
	if tok.TokenType != "" {
		next.TokenType = tok.TokenType
	}
	next.Expiry = tok.Expiry
	if len(tok.Scopes) > 0 {
		next.Scopes = tok.Scopes
	}
	next.RefreshedAt = now
	next.RefreshCount++
	next.CorrelationID = id
	return &next
}

// clientSecret prefers the config's current secret (it may have been rotated) for a
// pre-registered client, else the one stored with the registration.
func clientSecret(rec *tokenstore.Record, cfg oauth.Config) string {
	if cfg.ClientSecret != "" && cfg.ClientID == rec.Client.ClientID {
		return cfg.ClientSecret
	}
	return rec.Client.ClientSecret
}

func until(t, now time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return t.Sub(now).Round(time.Second)
}
