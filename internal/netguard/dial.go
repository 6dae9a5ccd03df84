package netguard

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"
)

type dialHostKey struct{}

// Dialer returns a dialer that checks every address it is about to connect to, after DNS
// resolution: a name resolving into a denied network (rebinding included) is refused before
// any packet leaves, for every address the dialer tries.
func (p *Policy) Dialer(timeout, keepAlive time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: keepAlive, ControlContext: p.control}
}

// DialContext dials through Dialer, remembering the name dialled so a refusal can say it.
func (p *Policy) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			ctx = context.WithValue(ctx, dialHostKey{}, host)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// control runs after resolution, with the socket created but not yet connected.
func (p *Policy) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP address (a unix socket, say): nothing the policy can judge, and the HTTP
		// transports here only dial tcp.
		if network == "tcp" || network == "tcp4" || network == "tcp6" {
			return &DeniedError{Addr: address, Network: "unparseable address"}
		}
		return nil
	}
	host, _ := ctx.Value(dialHostKey{}).(string)
	return p.Check(ap.Addr(), ap.Port(), host)
}
