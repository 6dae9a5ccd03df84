package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// createServer creates an UpstreamServer.
func createServer(t *testing.T, ns, name string, spec mcpv1alpha1.UpstreamServerSpec) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return us
}

// get reads the server from the API server (not a cache).
func get(t *testing.T, us *mcpv1alpha1.UpstreamServer) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	out := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(us), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// rpcError is the wire shape of the gateway's JSON-RPC errors, decoded here independently of
// the gateway's own types.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    *struct {
		Server            string `json:"server"`
		Credential        string `json:"credential"`
		Reason            string `json:"reason"`
		LoginCommand      string `json:"loginCommand"`
		RetryAfterSeconds int    `json:"retryAfterSeconds"`
	} `json:"data,omitempty"`
}

func isReadyNow(us *mcpv1alpha1.UpstreamServer) bool {
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == us.Generation
}

// waitReady waits until us is Ready on the API server and as every gateway serving its
// namespace sees it, so that a request sent next is decided on that status.
func waitReady(t *testing.T, us *mcpv1alpha1.UpstreamServer, timeout time.Duration) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	var cur *mcpv1alpha1.UpstreamServer
	testenv.Eventually(t, timeout, us.Name+" Ready", func() bool { cur = get(t, us); return isReadyNow(cur) })
	for i, g := range gatewayViews.of(us.Namespace) {
		testenv.Eventually(t, timeout, fmt.Sprintf("%s Ready as gateway %d sees it", us.Name, i), func() bool {
			seen, err := g.ServerSeen(context.Background(), client.ObjectKeyFromObject(us))
			return err == nil && seen.Generation == cur.Generation && isReadyNow(seen)
		})
	}
	return cur
}

// bearerClient is an HTTP client that presents token (none when empty).
func bearerClient(token string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if token != "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// connect opens an official SDK client session to endpoint (Streamable HTTP or legacy SSE).
func connect(t *testing.T, endpoint string, sse bool, token string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	cs, err := dial(endpoint, sse, token, opts)
	if err != nil {
		t.Fatalf("connecting to %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func dial(endpoint string, sse bool, token string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: bearerClient(token), MaxRetries: 1}
	if sse {
		tr = &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: bearerClient(token)}
	}
	// The SDK binds the legacy SSE stream to the Connect context: it must outlive the call.
	return mcp.NewClient(&mcp.Implementation{Name: "gateway-test", Version: "v0"}, opts).Connect(context.Background(), tr, nil)
}

// echo calls the echo tool (named name) and checks the answer.
func echo(cs *mcp.ClientSession, name, text string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{"text": text}})
	if err != nil {
		return err
	}
	if res.IsError || len(res.Content) != 1 {
		return errUnexpected(res)
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != text {
		return errUnexpected(res)
	}
	return nil
}

type unexpectedResult struct{ res *mcp.CallToolResult }

func (e unexpectedResult) Error() string {
	return "unexpected tool result: " + describeResult(e.res)
}

func errUnexpected(res *mcp.CallToolResult) error { return unexpectedResult{res} }

func describeResult(res *mcp.CallToolResult) string {
	s := ""
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			s += tc.Text + " "
		}
	}
	return s
}

// counter reads the counter name{labels...} (label name, value pairs) from the in-process
// metrics registry, as a scrape of the manager would; 0 when no such series exists.
func counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// aggregated is one logged-in, Ready server (an hour's tokens) behind a fresh harness, and a
// client on /mcp that lists the server's echo tool.
type aggregated struct {
	srv  *oauthserver.Server
	h    *harness
	ns   string
	cs   *mcp.ClientSession
	echo string // the echo tool's name on /mcp
}

func startAggregated(t *testing.T, server string, tweak func(*Options)) aggregated {
	t.Helper()
	a := aggregated{srv: testenv.StartOAuthServer(t, oauthserver.Options{AccessTokenTTL: time.Hour}), ns: newNamespace(t)}
	a.h = startHarness(t, a.ns, tweak)
	us := createServer(t, a.ns, server, mcpv1alpha1.UpstreamServerSpec{URL: a.srv.MCPURL()})
	testenv.Login(t, a.srv, us)
	waitReady(t, us, 30*time.Second)
	a.cs = connect(t, a.h.url+"/mcp", false, "", nil)
	a.echo = ToolName(a.ns, server, "echo")
	testenv.Eventually(t, 30*time.Second, server+"'s tools on /mcp", func() bool {
		return slices.Contains(toolNames(t, a.cs), a.echo)
	})
	return a
}
