package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/handover"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// startOAuthServer runs test/oauthserver on loopback in auto-approve mode.
func startOAuthServer(t *testing.T, opts oauthserver.Options) *oauthserver.Server {
	t.Helper()
	opts.AutoApprove = true
	s := oauthserver.New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// createServer creates an UpstreamServer.
func createServer(t *testing.T, ns, name string, spec mcpv1alpha1.UpstreamServerSpec) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if err := apiClient.Create(context.Background(), us); err != nil {
		t.Fatal(err)
	}
	return us
}

// login runs a real authorization code flow against srv headlessly and hands the result to the
// controller the way `mcpproxy auth login` does: a hand-over Secret.
func login(t *testing.T, srv *oauthserver.Server, us *mcpv1alpha1.UpstreamServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := oauth.Login(ctx, oauth.Config{ServerURL: us.Spec.URL}, oauth.LoginOptions{
		OpenBrowser: func(authURL string) error {
			go func() {
				back, err := srv.FollowAuthorize(authURL)
				if err != nil {
					t.Errorf("authorize: %v", err)
					return
				}
				resp, err := http.Get(back.String())
				if err == nil {
					resp.Body.Close()
				}
			}()
			return nil
		},
	})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	body, err := handover.Payload{
		ServerURL: us.Spec.URL, Issuer: res.Discovery.Issuer, Resource: res.Discovery.Resource,
		TokenEndpoint: res.Discovery.Metadata.TokenEndpoint, RevocationEndpoint: res.Discovery.Metadata.RevocationEndpoint,
		AccessToken: res.Token.AccessToken, RefreshToken: res.Token.RefreshToken, TokenType: res.Token.TokenType,
		Expiry: res.Token.Expiry, Scopes: res.Token.Scopes,
		Client: handover.Client{ClientID: res.Client.ClientID, ClientSecret: res.Client.ClientSecret,
			AuthMethod: res.Client.AuthMethod, RedirectURI: res.Client.RedirectURI},
		CorrelationID: res.CorrelationID, CreatedAt: time.Now(),
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiClient.Create(context.Background(), mcpv1alpha1.NewHandOverSecret(get(t, us), body)); err != nil {
		t.Fatal(err)
	}
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

// eventually polls cond every 50ms until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isReadyNow(us *mcpv1alpha1.UpstreamServer) bool {
	c := meta.FindStatusCondition(us.Status.Conditions, mcpv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == us.Generation
}

func waitReady(t *testing.T, us *mcpv1alpha1.UpstreamServer, timeout time.Duration) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	var cur *mcpv1alpha1.UpstreamServer
	eventually(t, timeout, us.Name+" Ready", func() bool { cur = get(t, us); return isReadyNow(cur) })
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
