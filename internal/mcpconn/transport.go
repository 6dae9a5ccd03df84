package mcpconn

import (
	"net/http"
	"sync/atomic"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// defaultTransport sends the requests of sessions whose owner gave no Base: the binary's
// default egress policy, one connection pool for them all.
var defaultTransport = netguard.NewTransport(netguard.Default(), netguard.TransportOptions{})

// bearerTransport hands the session's current credentials (token and static headers, bound
// to the URL the session was dialled for) to the base transport, which attaches them only to
// that URL's origin, and notices when the server rejects them. It never refreshes: a 401 is
// reported to the session's owner, and only the reconciler ever spends a refresh token.
type bearerTransport struct {
	base  http.RoundTripper
	creds *atomic.Pointer[netguard.Credentials]
	on401 func()
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c := t.creds.Load(); c != nil {
		req = req.WithContext(netguard.WithCredentials(req.Context(), c))
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && t.on401 != nil {
		t.on401()
	}
	return resp, err
}
