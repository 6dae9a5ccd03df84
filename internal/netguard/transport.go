package netguard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Credentials are the secrets one request may carry and the URL they are bound to: a stored
// token's record URL, or the spec URL a session was dialled for. Only that URL's origin ever
// receives them.
type Credentials struct {
	// BoundURL is the URL the credentials belong to.
	BoundURL string
	// Bearer is an access token, sent as "Authorization: Bearer …"; empty sends none.
	Bearer string
	// Headers are static credential headers (API keys), sent as given.
	Headers http.Header
}

func (c *Credentials) empty() bool { return c == nil || (c.Bearer == "" && len(c.Headers) == 0) }

type credentialsKey struct{}

// WithCredentials returns ctx carrying c: a Transport attaches them to a request with that
// context only if the request goes to c's origin. A redirect followed by an http.Client keeps
// the context, so its hop is checked the same way.
func WithCredentials(ctx context.Context, c *Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// CredentialsFrom returns the credentials WithCredentials put in ctx, or nil.
func CredentialsFrom(ctx context.Context) *Credentials {
	c, _ := ctx.Value(credentialsKey{}).(*Credentials)
	return c
}

// BindingError is a request refused because it carried credentials bound to another origin.
// It names origins only, never a path, query or secret.
type BindingError struct {
	Bound, Target string
}

func (e *BindingError) Error() string {
	return fmt.Sprintf("refused to send credentials bound to %s to %s", e.Bound, e.Target)
}

// TransportOptions tune a Transport.
type TransportOptions struct {
	// ResponseHeaderTimeout bounds the wait for an answer's headers (default 30s). The body
	// is not bounded here: it may be a long-lived event stream.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost (default 4).
	MaxIdleConnsPerHost int
}

// Transport is the one RoundTripper every outbound request of the manager and the CLI ends
// in: the controller's MCP sessions, the gateway's pass-through and catalog, the OAuth
// clients and the CLI's probe. It dials only what the Policy allows and attaches a request's
// Credentials (WithCredentials) only when the request goes to their bound origin; a request
// that would carry them elsewhere is not sent at all.
type Transport struct {
	policy *Policy
	base   *http.Transport
}

// NewTransport returns a Transport enforcing p (nil allows every address).
func NewTransport(p *Policy, o TransportOptions) *Transport {
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = 30 * time.Second
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 4
	}
	return &Transport{policy: p, base: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           p.DialContext(p.Dialer(10*time.Second, 30*time.Second)),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		ForceAttemptHTTP2:     true,
	}}
}

// Policy is the egress policy the transport enforces.
func (t *Transport) Policy() *Policy { return t.policy }

// RoundTrip checks the credentials' binding, then sends req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req
	if c := CredentialsFrom(req.Context()); !c.empty() {
		bound, target := OriginOf(c.BoundURL), Origin(req.URL)
		if bound == "" || bound != target {
			closeBody(req)
			return nil, &BindingError{Bound: bound, Target: target}
		}
		out = req.Clone(req.Context())
		for name, values := range c.Headers {
			out.Header[name] = append([]string(nil), values...)
		}
		if c.Bearer != "" {
			out.Header.Set("Authorization", "Bearer "+c.Bearer)
		}
	}
	if err := t.checkProxied(out); err != nil {
		closeBody(req)
		return nil, err
	}
	return t.base.RoundTrip(out)
}

// checkProxied judges the destination of a request sent through an environment proxy: the
// dialer then sees only the proxy's address. The proxy resolves the name again, so this is a
// best effort; deployments with a proxy should enforce egress there too.
func (t *Transport) checkProxied(req *http.Request) error {
	if t.policy == nil || t.base.Proxy == nil {
		return nil
	}
	if pu, err := t.base.Proxy(req); err != nil || pu == nil {
		return nil
	}
	host := req.URL.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return t.policy.Check(a, 0, host)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(req.Context(), "ip", host)
	if err != nil {
		return nil // the proxy reports the failure
	}
	for _, a := range addrs {
		if err := t.policy.Check(a, 0, host); err != nil {
			return err
		}
	}
	return nil
}

// CloseIdleConnections closes the pooled connections.
func (t *Transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// Client is an http.Client over t with the one redirect policy and a timeout for the whole
// exchange (zero: none, for event streams).
func (t *Transport) Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: t, CheckRedirect: CheckRedirect, Timeout: timeout}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
