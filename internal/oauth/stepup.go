package oauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// MaxStepUpAttempts caps step-up re-authorizations for one operation.
const MaxStepUpAttempts = 3

// InsufficientScope reports whether an MCP server answer (status and headers) is a 403
// insufficient_scope challenge, and returns the challenged scopes.
func InsufficientScope(status int, h http.Header) ([]string, bool) {
	if status != http.StatusForbidden {
		return nil, false
	}
	c, ok := BearerChallenge(h)
	if !ok || c.Param("error") != "insufficient_scope" {
		return nil, false
	}
	return c.Scopes(), true
}

// StepUpScopes is the scope to request after an insufficient_scope challenge: the
// union of what was granted and what was challenged.
func StepUpScopes(granted, challenged []string) []string {
	return unionScopes(granted, challenged)
}

// StepUp authorizes again after a 403 insufficient_scope, asking for the union of prev's
// granted scopes and the challenged ones and reusing prev's client registration.
// attempt counts step-ups for the same operation starting at 1; beyond
// MaxStepUpAttempts it returns ErrStepUpLimit without contacting anyone.
func StepUp(ctx context.Context, cfg Config, opts LoginOptions, prev *LoginResult, challenged []string, attempt int) (*LoginResult, error) {
	if attempt > MaxStepUpAttempts {
		return nil, fmt.Errorf("oauth: %d step-up attempts: %w", attempt-1, ErrStepUpLimit)
	}
	if prev != nil {
		cfg.Scopes = StepUpScopes(prev.Token.Scopes, challenged)
		if opts.Registration == nil {
			reg := prev.Client
			opts.Registration = &reg
		}
		if CorrelationID(ctx) == "" && prev.CorrelationID != "" {
			ctx = WithCorrelationID(ctx, prev.CorrelationID)
		}
	} else {
		cfg.Scopes = StepUpScopes(cfg.Scopes, challenged)
	}
	flowLogger(ctx, cfg.Logger).Info("Stepping up authorization", "attempt", attempt, "scopes", strings.Join(cfg.Scopes, " "))
	return Login(ctx, cfg, opts)
}

// CallWithStepUp runs call with current's token. When the answer is a 403
// insufficient_scope it steps up (at most MaxStepUpAttempts times) and calls again. It
// returns the final answer and the login result whose token produced it; the caller
// persists that result when it changed. Bodies of discarded answers are closed.
func CallWithStepUp(ctx context.Context, cfg Config, opts LoginOptions, current *LoginResult,
	call func(ctx context.Context, tok Token) (*http.Response, error)) (*http.Response, *LoginResult, error) {
	for attempt := 1; ; attempt++ {
		resp, err := call(ctx, current.Token)
		if err != nil {
			return nil, current, err
		}
		challenged, ok := InsufficientScope(resp.StatusCode, resp.Header)
		if !ok {
			return resp, current, nil
		}
		resp.Body.Close()
		next, err := StepUp(ctx, cfg, opts, current, challenged, attempt)
		if err != nil {
			return nil, current, err
		}
		current = next
	}
}
