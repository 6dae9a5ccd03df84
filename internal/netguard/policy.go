// Package netguard is where every outbound connection of the manager and the CLI is checked:
// an egress policy enforced when a connection is dialled (after DNS resolution, on the address
// actually dialled, so a name that rebinds to a denied address cannot get past it), a redirect
// policy, and the one RoundTripper that attaches credentials only to the origin they are bound
// to. It knows HTTP and IP networks, never Kubernetes.
package netguard

import (
	"fmt"
	"net/netip"
	"strings"
)

// The manager flags that set a Policy; a refused destination names the one that allows it.
const (
	FlagDeny  = "--egress-deny-cidr"
	FlagAllow = "--egress-allow-cidr"
)

// DefaultDeny is what the binary denies unless told otherwise: link-local networks (where
// cloud metadata services live) and the well-known metadata addresses outside them.
var DefaultDeny = []string{
	"169.254.0.0/16",      // IPv4 link-local: AWS, GCP, Azure, OpenStack metadata at 169.254.169.254
	"fe80::/10",           // IPv6 link-local
	"fd00:ec2::254/128",   // AWS IMDS over IPv6
	"100.100.100.200/32",  // Alibaba Cloud metadata
	"192.0.0.192/32",      // Oracle Cloud metadata (legacy)
	"64:ff9b::a9fe:0/112", // 169.254.0.0/16 through NAT64's well-known prefix
	"2002:a9fe::/32",      // 169.254.0.0/16 through 6to4
}

// LoopbackNets are the pod's own loopback networks; the Helm chart adds them to the deny list.
var LoopbackNets = []string{"127.0.0.0/8", "::1/128"}

// Policy decides which IP addresses may be dialled. The most specific matching prefix
// decides; between an allowed and a denied prefix of the same length, allow wins. An address
// no prefix matches is allowed. The zero Policy allows everything.
type Policy struct {
	deny, allow []netip.Prefix
}

// NewPolicy builds a policy from CIDRs (or bare addresses, meaning a single host). Each entry
// may itself be a comma-separated list, as flags are given.
func NewPolicy(deny, allow []string) (*Policy, error) {
	d, err := ParsePrefixes(deny)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FlagDeny, err)
	}
	a, err := ParsePrefixes(allow)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FlagAllow, err)
	}
	return &Policy{deny: d, allow: a}, nil
}

// Default is the binary's default policy: DefaultDeny, nothing explicitly allowed.
func Default() *Policy {
	p, err := NewPolicy(DefaultDeny, nil)
	if err != nil {
		panic(err) // DefaultDeny is a constant list
	}
	return p
}

// ParsePrefixes parses CIDRs and bare addresses, splitting comma-separated entries.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, entry := range list {
		for _, s := range strings.Split(entry, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := parsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), bits(p)).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// bits keeps a prefix length valid after an IPv4-mapped prefix (::ffff:a.b.c.d/n) is unmapped.
func bits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// Check returns nil when ip may be dialled, else a *DeniedError naming the denying prefix.
// An unspecified address (0.0.0.0, ::) reaches the local host when dialled, so it is judged
// as the matching loopback address too.
func (p *Policy) Check(ip netip.Addr, port uint16, host string) error {
	if p == nil {
		return nil
	}
	// A zone (fe80::1%eth0, or [::1%lo] in a URL) would make every prefix miss: prefixes
	// never contain a zoned address. The zone picks an interface, not another address.
	ip = ip.WithZone("").Unmap()
	candidates := []netip.Addr{ip}
	if ip.IsUnspecified() {
		if ip.Is4() {
			candidates = append(candidates, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		} else {
			candidates = append(candidates, netip.IPv6Loopback())
		}
	}
	for _, a := range candidates {
		if denied, by := p.denies(a); denied {
			return &DeniedError{Addr: netip.AddrPortFrom(ip, port).String(), Host: host, Network: by.String()}
		}
	}
	return nil
}

// denies reports whether the most specific prefix matching a is a denied one.
func (p *Policy) denies(a netip.Addr) (bool, netip.Prefix) {
	best, bestBits, denied := netip.Prefix{}, -1, false
	for _, d := range p.deny {
		if d.Contains(a) && d.Bits() > bestBits {
			best, bestBits, denied = d, d.Bits(), true
		}
	}
	for _, al := range p.allow {
		if al.Contains(a) && al.Bits() >= bestBits {
			return false, al
		}
	}
	return denied, best
}

// String lists the policy for the manager's start-up log.
func (p *Policy) String() string {
	if p == nil {
		return "allow all"
	}
	join := func(ps []netip.Prefix) string {
		s := make([]string, len(ps))
		for i, x := range ps {
			s[i] = x.String()
		}
		return strings.Join(s, ",")
	}
	return "deny=" + join(p.deny) + " allow=" + join(p.allow)
}

// DeniedError is a connection the egress policy refused before it was made. Find it with
// errors.As: the lifecycle turns it into a condition. Its text names the address and the flag
// that allows it, never a credential or a URL's query.
type DeniedError struct {
	// Addr is the address that would have been dialled (ip:port).
	Addr string
	// Host is the name that resolved to it, when known.
	Host string
	// Network is the denied network that matched.
	Network string
}

func (e *DeniedError) Error() string {
	host := ""
	if e.Host != "" && e.Host != e.Addr {
		host = " (" + e.Host + ")"
	}
	ip := e.Addr
	if ap, err := netip.ParseAddrPort(e.Addr); err == nil {
		ip = ap.Addr().String()
	}
	return fmt.Sprintf("egress to %s%s is denied by the egress policy (%s); to allow it, start the manager with %s=%s/%d",
		e.Addr, host, e.Network, FlagAllow, ip, hostBits(ip))
}

func hostBits(ip string) int {
	if a, err := netip.ParseAddr(ip); err == nil {
		return a.BitLen()
	}
	return 32
}
