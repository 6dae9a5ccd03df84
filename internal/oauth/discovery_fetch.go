package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-logr/logr"
)

// discoverResourceMetadata fetches RFC 9728 metadata: from the challenge's
// resource_metadata URL when present, else from the well-known candidates in order.
// It returns ErrMetadataNotFound when no candidate served a usable document.
func discoverResourceMetadata(ctx context.Context, hc *http.Client, log logr.Logger, serverURL, headerURL string) (*ProtectedResourceMetadata, string, error) {
	var candidates []string
	if headerURL != "" {
		if u, err := url.Parse(headerURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			candidates = append(candidates, headerURL)
		}
	}
	wk, err := protectedResourceCandidates(serverURL)
	if err != nil {
		return nil, "", fmt.Errorf("oauth: %w", err)
	}
	candidates = append(candidates, wk...)
	var found *ProtectedResourceMetadata
	at, err := fetchFirst(ctx, hc, log, candidates, func(body []byte) error {
		m, err := DecodeProtectedResourceMetadata(body)
		found = m
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("oauth: protected resource metadata: %w", err)
	}
	return found, at, nil
}

// discoverAuthServer fetches the issuer's metadata from its candidates in order and
// checks that the document's issuer is exactly the issuer used.
func discoverAuthServer(ctx context.Context, hc *http.Client, log logr.Logger, issuer string) (*AuthServerMetadata, error) {
	if err := checkSecureEndpoint("issuer", issuer); err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	candidates, err := authServerCandidates(issuer)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	var found *AuthServerMetadata
	at, err := fetchFirst(ctx, hc, log, candidates, func(body []byte) error {
		m, err := DecodeAuthServerMetadata(body)
		found = m
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: authorization server metadata for %s: %w", issuer, err)
	}
	if found.Issuer != issuer {
		return nil, fmt.Errorf("oauth: metadata at %s names issuer %q, expected %q: %w", at, found.Issuer, issuer, ErrIssuerMismatch)
	}
	return found, nil
}

// fetchFirst GETs candidates in order and returns the first URL whose 200 answer decodes.
// Missing or undecodable documents move on to the next candidate. A network error stops
// discovery as a transient failure; a server error or 429 is reported as transient only
// when no later candidate succeeds.
func fetchFirst(ctx context.Context, hc *http.Client, log logr.Logger, candidates []string, decode func([]byte) error) (string, error) {
	var serverErr error
	for _, u := range candidates {
		resp, err := get(ctx, hc, u)
		if err != nil {
			return "", &Error{Op: "fetching metadata " + Redact(u), Err: err}
		}
		switch {
		case resp.Status == http.StatusOK:
			if err := decode(resp.Body); err != nil {
				log.V(1).Info("Skipped unusable metadata document", "url", Redact(u), "reason", Redact(err.Error()))
				continue
			}
			return u, nil
		case resp.Status >= 500 || resp.Status == http.StatusTooManyRequests:
			if serverErr == nil {
				serverErr = statusError("fetching metadata "+Redact(u), resp, nil)
			}
		}
	}
	if serverErr != nil {
		return "", serverErr
	}
	return "", fmt.Errorf("tried %v: %w", candidates, ErrMetadataNotFound)
}
