package netguard

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
)

// An IPv6 zone must not take an address out of a denied network: no prefix contains a zoned
// address, so [::1%lo] once reached a listener the policy denied as ::1.
func TestZonedAddressIsJudgedWithoutItsZone(t *testing.T) {
	p := mustPolicy(t, append(append([]string{}, DefaultDeny...), LoopbackNets...), nil)
	for _, a := range []string{"fe80::1%eth0", "fd00:ec2::254%eth0", "::1%lo", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"} {
		if err := p.Check(netip.MustParseAddr(a), 80, ""); err == nil {
			t.Errorf("%s is not denied", a)
		}
	}

	rec := newRecorder(t, "[::1]:0")
	port := strconv.Itoa(rec.ln.Addr().(*net.TCPAddr).Port)
	tr := NewTransport(mustPolicy(t, LoopbackNets, nil), TransportOptions{})
	for _, u := range []string{"http://[::1]:" + port + "/", "http://[::1%25lo]:" + port + "/", "http://[::1%251]:" + port + "/"} {
		_, err := tr.Client(0).Get(u)
		var denied *DeniedError
		if !errors.As(err, &denied) {
			t.Errorf("GET %s: want a *DeniedError, got %v", u, err)
		}
	}
	if n := rec.ln.accepts.Load(); n != 0 {
		t.Fatalf("%d connections reached the denied listener", n)
	}
}
