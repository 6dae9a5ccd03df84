package app

import (
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// oauthRequestTimeout bounds one exchange with an authorization server (internal/oauth bounds
// each request to the same again).
const oauthRequestTimeout = 30 * time.Second

// egress builds the manager's outbound transports from Options.Egress (nil: the binary's
// default policy): one for the reconciler's sessions and OAuth calls, and one for the
// gateway, whose many concurrent callers need more idle connections and longer answers. Both
// attach credentials only to their bound origin and dial only what the policy allows.
func egress(o Options) (sessions, gateway *netguard.Transport) {
	p := o.Egress
	if p == nil {
		p = netguard.Default()
	}
	sessions = netguard.NewTransport(p, netguard.TransportOptions{})
	gateway = netguard.NewTransport(p, netguard.TransportOptions{ResponseHeaderTimeout: 60 * time.Second, MaxIdleConnsPerHost: 64})
	return sessions, gateway
}
