package gateway

import "github.com/mcpproxy/mcpproxy-operator/internal/netguard"

// SetEgress makes t, the manager's netguard.Transport, send every upstream request of the
// gateway: the pass-through and the catalog's sessions. t dials only what its egress policy
// allows and attaches a server's credentials only to its spec URL's origin. Call it before
// Start; without it the gateway uses netguard.Default's policy.
func (g *Gateway) SetEgress(t *netguard.Transport) {
	if t != nil {
		g.up.base = t
	}
}
