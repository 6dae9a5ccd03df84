package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// apiKeyServer is an MCP server that wants an API key header and no Authorization, with a
// tool "slow" that sends a progress event and then waits for release before it answers.
type apiKeyServer struct {
	*httptest.Server
	release    chan struct{}
	sawCallers atomic.Int32 // requests that carried an Authorization header
	key        atomic.Value // the API key it wants (a string)
}

func startAPIKeyServer(t *testing.T, key string) *apiKeyServer {
	t.Helper()
	s := &apiKeyServer{release: make(chan struct{})}
	s.key.Store(key)
	srv := mcp.NewServer(&mcp.Implementation{Name: "apikey", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow", Description: "Reports progress, then waits to be released."},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: req.Params.GetProgressToken(), Progress: 1, Total: 2, Message: "halfway"})
			select {
			case <-s.release:
			case <-ctx.Done():
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			s.sawCallers.Add(1)
		}
		if r.Header.Get("X-API-Key") != s.key.Load().(string) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="apikey"`)
			http.Error(w, "missing API key", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// An SSE answer to a POST streams through the gateway event by event: the caller sees the
// progress event while the tool is still running. The server's API key (from a Secret) is
// added, the caller's own bearer token is not passed on.
func TestSSEAnswerStreamsEventByEvent(t *testing.T) {
	up := startAPIKeyServer(t, "key-123")
	ns := newNamespace(t)
	h := startHarness(t, ns, func(o *Options) { o.AllowLoopbackUnauthenticated = false })
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "apikey", Namespace: ns,
		Annotations: map[string]string{mcpv1alpha1.AnnotationAllowedServers: "keyed"}}, StringData: map[string]string{"key": "key-123"}}
	if err := apiClient.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	us := createServer(t, ns, "keyed", mcpv1alpha1.UpstreamServerSpec{URL: up.URL + "/mcp", Headers: []mcpv1alpha1.HeaderSpec{{
		Name: "X-API-Key", ValueFrom: &mcpv1alpha1.HeaderValueSource{SecretKeyRef: mcpv1alpha1.SecretKeyReference{Name: "apikey", Key: "key"}}}}})
	waitReady(t, us, 30*time.Second)
	token := serviceAccountToken(t, ns, "agent")
	grantUse(t, ns, "agent", "keyed")
	url := h.serverURL("keyed")

	var (
		status int
		hdr    http.Header
		body   []byte
	)
	// The gateway reads the manager's cache, a moment behind the API server.
	testenv.Eventually(t, 10*time.Second, "the gateway seeing the server Ready", func() bool {
		status, hdr, body = rawPost(t, url, token, "", initializeBody)
		return rpcErrorCode(body) != CodeNotReady
	})
	if status != http.StatusOK {
		t.Fatalf("initialize: %d %s", status, body)
	}
	sid := hdr.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("no Mcp-Session-Id passed through: %v", hdr)
	}
	if status, _, body = rawPost(t, url, token, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", status, body)
	}

	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{},"_meta":{"progressToken":"p1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("tools/call answered %d %s, want an event stream", resp.StatusCode, ct)
	}
	events := bufio.NewReader(resp.Body)
	first := readEvent(t, events)
	if !strings.Contains(first, "notifications/progress") || !strings.Contains(first, "halfway") {
		t.Fatalf("first event = %q, want the progress notification while the tool runs", first)
	}
	close(up.release) // only now may the tool answer
	if second := readEvent(t, events); !strings.Contains(second, `"done"`) || !strings.Contains(second, `"id":2`) {
		t.Fatalf("second event = %q, want the result", second)
	}
	if n := up.sawCallers.Load(); n != 0 {
		t.Fatalf("the upstream saw an Authorization header %d times: the caller's token was passed on", n)
	}
}

// readEvent reads one server-sent event (its data lines).
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var data strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v (so far %q)", err, data.String())
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if data.Len() > 0 {
				return data.String()
			}
			continue
		}
		if strings.HasPrefix(line, "data:") {
			data.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
		}
	}
}

// An upstream that rejects the gateway's credentials never shows the caller its challenge:
// the caller gets a JSON-RPC error instead of a WWW-Authenticate header meant for the gateway.
// The server is connected first (the gateway forwards to no other), then wants another key.
func TestUpstreamChallengeIsNotPassedOn(t *testing.T) {
	up := startAPIKeyServer(t, "right-key")
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "wrong-key", mcpv1alpha1.UpstreamServerSpec{URL: up.URL + "/mcp",
		Headers: []mcpv1alpha1.HeaderSpec{{Name: "X-API-Key", Value: ptr.To("right-key")}}})
	waitReady(t, us, 30*time.Second)
	up.key.Store("rotated-key")
	var (
		status int
		hdr    http.Header
		body   []byte
	)
	// Until the controller has looked at the server, the gateway answers "not ready yet".
	testenv.Eventually(t, 30*time.Second, "the request forwarded", func() bool {
		status, hdr, body = rawPost(t, h.serverURL(us.Name), "", "", initializeBody)
		return rpcErrorCode(body) != CodeNotReady
	})
	if status != http.StatusBadGateway || hdr.Get("WWW-Authenticate") != "" || rpcErrorCode(body) != CodeUpstreamRejected {
		t.Fatalf("upstream 401 reached the caller as %d %v %s", status, hdr, body)
	}
}
