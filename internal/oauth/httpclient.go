package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

const (
	// maxBodyBytes caps every response body read from a server.
	maxBodyBytes = 1 << 20
	// requestTimeout bounds every single HTTP exchange, whatever client the caller gave.
	requestTimeout = 30 * time.Second
	// userAgent identifies this client to servers.
	userAgent = "mcpproxy-operator-oauth/1"
)

// errBodyTooLarge reports a response body over maxBodyBytes.
var errBodyTooLarge = errors.New("response body exceeds 1 MiB")

// response is a fully read, size-capped HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// defaultTransport carries the requests of callers that give no client: the binary's default
// egress policy (netguard.Default), checked on every address dialled. The manager passes a
// client over its configured netguard.Transport instead.
var defaultTransport = netguard.NewTransport(netguard.Default(), netguard.TransportOptions{})

// httpClient returns a copy of hc (or a default client over defaultTransport) with the one
// redirect policy (netguard.CheckRedirect): redirects stay on the first request's origin and
// never go from https to http; any other 3xx is returned, and callers treat it as an
// unexpected status.
func httpClient(hc *http.Client) *http.Client {
	c := http.Client{Timeout: requestTimeout, Transport: defaultTransport}
	if hc != nil {
		c = *hc
	}
	c.CheckRedirect = netguard.CheckRedirect
	return &c
}

// do sends req with a per-request timeout and reads at most maxBodyBytes of the answer.
// Errors are returned with secrets scrubbed from their text.
func do(ctx context.Context, hc *http.Client, req *http.Request) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", userAgent)
	resp, err := httpClient(hc).Do(req)
	if err != nil {
		return nil, scrubbed(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, scrubbed(fmt.Errorf("reading response from %s: %w", req.URL.Redacted(), err))
	}
	if len(body) > maxBodyBytes {
		return nil, fmt.Errorf("reading response from %s: %w", Redact(req.URL.Redacted()), errBodyTooLarge)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// doStatus sends req with a per-request timeout and returns only status and headers. The
// body is not read: an MCP server may answer with an event stream that stays open.
func doStatus(ctx context.Context, hc *http.Client, req *http.Request) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", userAgent)
	resp, err := httpClient(hc).Do(req)
	if err != nil {
		return nil, scrubbed(err)
	}
	resp.Body.Close()
	return &response{Status: resp.StatusCode, Header: resp.Header}, nil
}

// get fetches a JSON document.
func get(ctx context.Context, hc *http.Client, rawURL string) (*response, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", Redact(rawURL), err)
	}
	req.Header.Set("Accept", "application/json")
	return do(ctx, hc, req)
}

// scrubbedError keeps the cause for errors.Is/As but prints it without secrets.
type scrubbedError struct{ err error }

func (e *scrubbedError) Error() string { return Redact(e.err.Error()) }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrubbed(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{err: err}
}

// isLoopbackHost reports whether host (without port) is a loopback name or address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkSecureEndpoint requires https for authorization server endpoints, allowing plain
// http only for loopback hosts (development and tests).
func checkSecureEndpoint(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s %q is not an absolute URL: %w", name, Redact(raw), ErrInsecureEndpoint)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s %s: %w", name, Redact(u.Redacted()), ErrInsecureEndpoint)
}

// parseRetryAfter reads a Retry-After header (delay-seconds or HTTP-date) relative to now.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
