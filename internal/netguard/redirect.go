package netguard

import (
	"net/http"
	"net/url"
	"strings"
)

// MaxRedirects bounds the redirects a client follows.
const MaxRedirects = 5

// CheckRedirect is the one redirect policy: follow at most MaxRedirects, only to the origin
// of the first request (scheme, host and port), and never from https to http. Any other
// redirect is not followed: the 3xx itself is returned, and callers treat it as an
// unexpected answer. So a redirect can neither carry a credential to another origin nor
// downgrade a connection.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= MaxRedirects {
		return http.ErrUseLastResponse
	}
	if !SameOrigin(via[0].URL, req.URL) {
		return http.ErrUseLastResponse
	}
	return nil
}

// Origin is a URL's scheme, host and port, lower-cased, with the scheme's default port made
// explicit: "https://Example.com/x" and "https://example.com:443/y" have the same origin.
func Origin(u *url.URL) string {
	if u == nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// SameOrigin reports whether a and b have the same origin (and one at all).
func SameOrigin(a, b *url.URL) bool {
	if a == nil || b == nil || a.Host == "" {
		return false
	}
	return Origin(a) == Origin(b)
}

// OriginOf is Origin of a raw URL, or "" when it does not parse or has no host.
func OriginOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return Origin(u)
}
