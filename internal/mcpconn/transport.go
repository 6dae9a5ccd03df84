package mcpconn

import (
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// bearerTransport adds the session's current access token and static headers to every request
// and notices when the server rejects the credentials. It never refreshes: a 401 is reported to
// the session's owner, and only the reconciler ever spends a refresh token.
type bearerTransport struct {
	base    http.RoundTripper
	token   *atomic.Pointer[string]
	headers http.Header
	on401   func()
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	for name, values := range t.headers {
		r.Header[name] = append([]string(nil), values...)
	}
	if tok := t.token.Load(); tok != nil && *tok != "" {
		r.Header.Set("Authorization", "Bearer "+*tok)
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && t.on401 != nil {
		t.on401()
	}
	return resp, err
}

// newBaseTransport bounds every phase of a request except the body, which may be a long-lived
// event stream.
func newBaseTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
}
