package gateway_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// TestProfileRoute drives one route with a ServiceAccount caller (TokenReview and
// SubjectAccessReview answered from the gateway's caches after the first call) so that
// `go test -cpuprofile/-memprofile` profiles it in process:
//
//	GATEWAY_PROFILE=server|aggregate|direct GATEWAY_PROFILE_CLIENTS=1,16 GATEWAY_PROFILE_DURATION=5s \
//	  go test -run TestProfileRoute -cpuprofile cpu.out ./gateway/
//
// It logs the latency of sequential calls and the calls per second of each client count. It
// is skipped unless GATEWAY_PROFILE is set.
func TestProfileRoute(t *testing.T) {
	route := os.Getenv("GATEWAY_PROFILE")
	if route == "" {
		t.Skip("set GATEWAY_PROFILE=server|aggregate|direct to profile a route")
	}
	clients := []int{1, 16}
	if v := os.Getenv("GATEWAY_PROFILE_CLIENTS"); v != "" {
		clients = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				t.Fatalf("GATEWAY_PROFILE_CLIENTS=%q", v)
			}
			clients = append(clients, n)
		}
	}
	d := 5 * time.Second
	if v, err := time.ParseDuration(os.Getenv("GATEWAY_PROFILE_DURATION")); err == nil {
		d = v
	}
	srv := testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour})
	ns := newNamespace(t)
	h := startHarness(t, ns, func(o *Options) { o.MaxSessionsPerIdentity = 1024 })
	us := createServer(t, ns, "busy", mcpv1alpha1.UpstreamServerSpec{URL: srv.MCPURL()})
	testenv.Login(t, srv, us)
	waitReady(t, us, 30*time.Second)
	grantUse(t, ns, "agent", "busy")
	token := serviceAccountToken(t, ns, "agent")

	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		return tr.RoundTrip(r)
	})}
	endpoint, tool := h.serverURL("busy"), "echo"
	switch route {
	case "aggregate":
		endpoint, tool = h.url+"/mcp", ToolName(ns, "busy", "echo")
	case "direct":
		endpoint = srv.MCPURL()
		tok := testenv.HeadlessLogin(t, srv, srv.MCPURL()).Token.AccessToken
		hc = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tok)
			return tr.RoundTrip(r)
		})}
	}
	open := func() *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "profile", Version: "v0"}, nil).Connect(context.Background(),
			&mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	first := open()
	if route == "aggregate" {
		testenv.Eventually(t, 30*time.Second, "the tool on /mcp", func() bool { return slices.Contains(toolNames(t, first), tool) })
	}
	lat := make([]time.Duration, 0, 2000)
	for i := range 2200 {
		start := time.Now()
		if err := echo(first, tool, "profile"); err != nil {
			t.Fatal(err)
		}
		if i >= 200 {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	t.Logf("%s: sequential calls p50 %v p99 %v", route, lat[len(lat)/2], lat[len(lat)*99/100])
	for _, c := range clients {
		sessions := []*mcp.ClientSession{first}
		for len(sessions) < c {
			sessions = append(sessions, open())
		}
		var n, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for _, cs := range sessions[:c] {
			wg.Go(func() {
				for time.Since(start) < d {
					if err := echo(cs, tool, "profile"); err != nil {
						failed.Add(1)
						continue
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		t.Logf("%s: %d clients: %.0f calls/s, %d failed", route, c, float64(n.Load())/time.Since(start).Seconds(), failed.Load())
		if failed.Load() > 0 {
			t.Errorf("%d calls failed", failed.Load())
		}
	}
}
