package oauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

// acceptCounter is a listener on a denied loopback address that counts who reached it.
type acceptCounter struct {
	net.Listener
	n atomic.Int32
}

func (l *acceptCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Discovery, the token endpoint and revocation refuse a denied address before connecting
// (127.0.0.2 stands for a metadata address: tests never dial one).
func TestEgressPolicyRefusesDiscoveryAndTokenRequests(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	ln := &acceptCounter{Listener: l}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + l.Addr().String()
	policy, err := netguard.NewPolicy([]string{"127.0.0.2/32"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := netguard.NewTransport(policy, netguard.TransportOptions{}).Client(10 * time.Second)
	ctx := context.Background()

	_, err = Discover(ctx, Config{ServerURL: base + "/mcp", HTTPClient: hc})
	assertDenied(t, "discovery", err)
	_, err = Refresh(ctx, RefreshRequest{TokenEndpoint: base + "/token", RefreshToken: "r",
		Client: ClientRegistration{ClientID: "c"}, HTTPClient: hc})
	assertDenied(t, "refresh", err)
	err = Revoke(ctx, base+"/revoke", ClientRegistration{ClientID: "c"}, "t", "refresh_token", hc)
	assertDenied(t, "revocation", err)
	if n := ln.n.Load(); n != 0 {
		t.Fatalf("%d connections reached the denied listener", n)
	}
}

func assertDenied(t *testing.T, what string, err error) {
	t.Helper()
	var denied *netguard.DeniedError
	if !errors.As(err, &denied) {
		t.Errorf("%s: want a *netguard.DeniedError, got %v", what, err)
	}
}
