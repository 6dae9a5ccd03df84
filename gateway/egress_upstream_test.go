package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

type countedListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// The gateway's upstream requests (pass-through and catalog go through attempt) dial only
// what the egress policy allows: a server at a denied address (127.0.0.2 standing in for a
// metadata address) is refused before any connection, with the token never sent.
func TestGatewayEgressIsRefusedBeforeConnecting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	ln := &countedListener{Listener: l}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	g := &Gateway{log: logr.Discard()}
	g.up = newUpstreams(g)
	policy, err := netguard.NewPolicy([]string{"127.0.0.2/32"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.SetEgress(netguard.NewTransport(policy, netguard.TransportOptions{}))
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "meta"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "http://" + l.Addr().String() + "/latest/meta-data"}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, us.Spec.URL, strings.NewReader("{}"))
	_, err = g.up.attempt(req, us, &tokenstore.Record{AccessToken: "tok", ServerURL: us.Spec.URL})
	var denied *netguard.DeniedError
	if !errors.As(err, &denied) || !strings.Contains(err.Error(), netguard.FlagAllow) {
		t.Fatalf("want a *netguard.DeniedError naming %s, got %v", netguard.FlagAllow, err)
	}
	if n := ln.n.Load(); n != 0 {
		t.Fatalf("%d connections reached the denied listener", n)
	}
}

// A request whose URL is not the spec's origin never carries the server's credentials.
func TestGatewayCredentialsOnlyToTheSpecOrigin(t *testing.T) {
	g := &Gateway{log: logr.Discard()}
	g.up = newUpstreams(g)
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "http://127.0.0.1:1/mcp"}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, "http://127.0.0.1:2/mcp", nil)
	_, err := g.up.attempt(req, us, &tokenstore.Record{AccessToken: "tok", ServerURL: us.Spec.URL})
	if !errors.As(err, new(*netguard.BindingError)) {
		t.Fatalf("want a *netguard.BindingError, got %v", err)
	}
}
