package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// countingListener counts the connections that reached it.
type countingListener struct {
	net.Listener
	accepts atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// recorder is an attacker's server on loopback: it needs no auth, records every request's
// headers and answers with an MCP session id.
type recorder struct {
	*httptest.Server
	ln   *countingListener
	mu   sync.Mutex
	seen []http.Header
}

func newRecorder(t *testing.T, addr string) *recorder {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	r := &recorder{ln: &countingListener{Listener: l}}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Header.Clone())
		r.mu.Unlock()
		w.Header().Set("Mcp-Session-Id", "attacker-session")
		w.WriteHeader(http.StatusOK)
	}))
	r.Listener = r.ln
	r.Start()
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.seen...)
}

func mustPolicy(t *testing.T, deny, allow []string) *Policy {
	t.Helper()
	p, err := NewPolicy(deny, allow)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyMostSpecificPrefixDecides(t *testing.T) {
	p := mustPolicy(t, append([]string{"127.0.0.0/8,::1"}, DefaultDeny...), []string{"127.0.0.2/32", "169.254.0.0/16"})
	cases := map[string]bool{ // address → denied
		"127.0.0.1": true, "127.0.0.2": false, "::1": true, "::ffff:127.0.0.1": true,
		"0.0.0.0": true, "::": true, // reach the local host when dialled
		"169.254.169.254": false, // an allow of the same length wins
		"fe80::1":         true, "fd00:ec2::254": true, "100.100.100.200": true, "10.0.0.1": false, "2001:db8::1": false,
	}
	for addr, want := range cases {
		err := p.Check(netip.MustParseAddr(addr), 80, "")
		if got := err != nil; got != want {
			t.Errorf("%s: denied=%v, want %v (%v)", addr, got, want, err)
		}
	}
	def := Default()
	for _, addr := range []string{"169.254.169.254", "fd00:ec2::254", "100.100.100.200", "fe80::a"} {
		if def.Check(netip.MustParseAddr(addr), 80, "") == nil {
			t.Errorf("the default policy allows %s", addr)
		}
	}
	if def.Check(netip.MustParseAddr("127.0.0.1"), 80, "") != nil {
		t.Error("the binary's default must keep loopback allowed (make run, make dev)")
	}
	if _, err := NewPolicy([]string{"not-a-cidr"}, nil); err == nil || !strings.Contains(err.Error(), FlagDeny) {
		t.Errorf("a bad CIDR must be refused naming the flag, got %v", err)
	}
}

// TestDeniedAddressIsNeverDialled denies 127.0.0.2 and shows no connection reaches a listener
// there; the error names the address and the flag that allows it.
func TestDeniedAddressIsNeverDialled(t *testing.T) {
	rec := newRecorder(t, "127.0.0.2:0")
	tr := NewTransport(mustPolicy(t, []string{"127.0.0.2/32"}, nil), TransportOptions{})
	_, err := tr.Client(0).Get(rec.URL + "/mcp")
	var denied *DeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("want a *DeniedError, got %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.2") || !strings.Contains(err.Error(), FlagAllow+"=127.0.0.2/32") {
		t.Errorf("the error must name the address and the flag: %v", err)
	}
	if n := rec.ln.accepts.Load(); n != 0 {
		t.Fatalf("%d connections reached the denied listener", n)
	}
	// A more specific allow opens it again.
	tr = NewTransport(mustPolicy(t, []string{"127.0.0.0/8"}, []string{"127.0.0.2"}), TransportOptions{})
	resp, err := tr.Client(0).Get(rec.URL + "/mcp")
	if err != nil {
		t.Fatalf("allowed address refused: %v", err)
	}
	resp.Body.Close()
}

// TestNameResolvingIntoADeniedNetworkIsRefused: "localhost" resolves into the denied loopback
// networks; the check is on the address dialled, not on the name.
func TestNameResolvingIntoADeniedNetworkIsRefused(t *testing.T) {
	rec := newRecorder(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(rec.Listener.Addr().String())
	tr := NewTransport(mustPolicy(t, LoopbackNets, nil), TransportOptions{})
	_, err := tr.Client(0).Get("http://localhost:" + port + "/")
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Host != "localhost" {
		t.Fatalf("want a *DeniedError for localhost, got %v", err)
	}
	if n := rec.ln.accepts.Load(); n != 0 {
		t.Fatalf("%d connections reached the listener", n)
	}
}

// TestCredentialsReachOnlyTheirOrigin: a request with credentials bound elsewhere is not sent,
// and a redirect to another origin carries nothing, with and without the redirect policy.
func TestCredentialsReachOnlyTheirOrigin(t *testing.T) {
	attacker := newRecorder(t, "127.0.0.1:0")
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, attacker.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer home.Close()
	tr := NewTransport(nil, TransportOptions{})
	creds := &Credentials{BoundURL: home.URL + "/mcp", Bearer: "secret-token", Headers: http.Header{"X-Api-Key": {"secret-key"}}}
	ctx := WithCredentials(context.Background(), creds)
	for name, c := range map[string]*http.Client{"redirect policy": tr.Client(0), "Go's default policy": {Transport: tr}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, home.URL+"/mcp", strings.NewReader("{}"))
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		t.Logf("%s: %v", name, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, attacker.URL+"/mcp", nil)
	if _, err := tr.RoundTrip(req); !errors.As(err, new(*BindingError)) {
		t.Fatalf("want a *BindingError, got %v", err)
	}
	if got := attacker.requests(); len(got) != 0 {
		t.Fatalf("the attacker received %d requests (first: %v)", len(got), got[0])
	}
}

func TestRedirectPolicy(t *testing.T) {
	mk := func(raw string) *http.Request { r, _ := http.NewRequest(http.MethodGet, raw, nil); return r }
	first := []*http.Request{mk("https://a.example/x")}
	for raw, follow := range map[string]bool{
		"https://a.example:443/y": true, "https://A.example/z": true,
		"http://a.example/y": false, "https://b.example/y": false, "https://a.example:8443/y": false,
	} {
		if got := CheckRedirect(mk(raw), first) == nil; got != follow {
			t.Errorf("redirect to %s: follow=%v, want %v", raw, got, follow)
		}
	}
}
