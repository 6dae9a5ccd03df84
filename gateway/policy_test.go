package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// callerAgent marks the test's own requests, so the recorder tells them from the controller's.
const callerAgent = "policy-test-caller"

// metadataSecret is what the recorder's "cloud metadata" path answers.
const metadataSecret = `{"AccessKeyId":"ASIA-metadata-credentials"}`

// recorder plays a hostile upstream on loopback: it records every request, sets a cookie on
// every answer, serves MCP on /mcp (Streamable HTTP) and /sse (legacy SSE), and cloud-metadata
// credentials on every other path, to any method.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	method, path, query string
	header              http.Header
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "recorder", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Echoes text."},
		func(_ context.Context, _ *mcp.CallToolRequest, in struct{ Text string }) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	get := func(*http.Request) *mcp.Server { return srv }
	streamable, sse := mcp.NewStreamableHTTPHandler(get, nil), mcp.NewSSEHandler(get, nil)
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone()})
		rec.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "upstream-session", Value: "stolen", Path: "/"})
		switch r.URL.Path {
		case "/mcp":
			streamable.ServeHTTP(w, r)
		case "/sse":
			if r.Method == http.MethodPost && r.URL.Query().Get("sessionid") == "" {
				// The controller's discovery probe: answer as a public server would.
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
				return
			}
			sse.ServeHTTP(w, r)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, metadataSecret)
		}
	}))
	t.Cleanup(rec.Close)
	return rec
}

// fromCaller is every request the recorder received that the test's caller sent (through the
// gateway, which forwards the caller's User-Agent).
func (rec *recorder) fromCaller() []seenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []seenRequest
	for _, s := range rec.seen {
		if strings.Contains(s.header.Get("User-Agent"), callerAgent) {
			out = append(out, s)
		}
	}
	return out
}

// send makes one request as the test's caller, with extra headers, and reads the answer.
func send(t *testing.T, method, url, body string, extra map[string]string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", callerAgent)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// The pass-through forwards only MCP's methods, MCP's headers, spec.url's path with its own
// query, and never passes the upstream's cookies on.
func TestPassThroughForwardsOnlyWhatMCPNeeds(t *testing.T) {
	rec := startRecorder(t)
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "rec", mcpv1alpha1.UpstreamServerSpec{URL: rec.URL + "/mcp?tenant=a",
		Headers: []mcpv1alpha1.HeaderSpec{{Name: "X-API-Key", Value: ptr.To("static-key")}}})
	waitReady(t, us, 30*time.Second)
	url := h.serverURL("rec")
	testenv.Eventually(t, 10*time.Second, "the gateway seeing rec Ready", func() bool {
		_, body := send(t, http.MethodPost, url, initializeBody, nil)
		return rpcErrorCode(body) != CodeNotReady
	})

	before := len(rec.fromCaller())
	for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodOptions, http.MethodHead, "PROPFIND"} {
		resp, body := send(t, method, url, "", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST, DELETE" ||
			(method != http.MethodHead && rpcErrorCode(body) != CodeMethodNotAllowed) {
			t.Errorf("%s: %d %v %s, want 405 with Allow and a JSON-RPC error", method, resp.StatusCode, resp.Header, body)
		}
	}
	resp, body := send(t, http.MethodPost, url+"?tenant=b&redirect=http://169.254.169.254/", initializeBody, map[string]string{
		"Metadata-Flavor": "Google", "X-Aws-Ec2-Metadata-Token": "t", "Cookie": "gw=1", "X-Forwarded-Host": "evil"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("the upstream's Set-Cookie reached the caller: %v", c)
	}
	resp, body = send(t, http.MethodGet, url+"/sse-endpoint/latest/meta-data/", "", nil)
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), metadataSecret) {
		t.Errorf("an sse-endpoint path never handed out: %d %s, want 404", resp.StatusCode, body)
	}

	seen := rec.fromCaller()[before:]
	if len(seen) != 1 {
		t.Fatalf("the upstream saw %d requests of the caller, want only the initialize: %+v", len(seen), seen)
	}
	s := seen[0]
	if s.method != http.MethodPost || s.path != "/mcp" || s.query != "tenant=a" {
		t.Errorf("forwarded as %s %s?%s, want POST /mcp?tenant=a (spec.url's own query only)", s.method, s.path, s.query)
	}
	for _, k := range []string{"Metadata-Flavor", "X-Aws-Ec2-Metadata-Token", "Cookie", "X-Forwarded-Host", "Authorization"} {
		if v := s.header.Get(k); v != "" {
			t.Errorf("the caller's %s: %q reached the upstream", k, v)
		}
	}
	if s.header.Get("X-API-Key") != "static-key" {
		t.Errorf("the static header did not reach the upstream: %v", s.header)
	}
}

// A server with a static header at a non-MCP address (cloud metadata, here on loopback) is
// Authenticated without ever connecting: the gateway must not forward to it (SSRF).
func TestNeverConnectedServerIsNotForwarded(t *testing.T) {
	rec := startRecorder(t)
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "metadata", mcpv1alpha1.UpstreamServerSpec{URL: rec.URL + "/latest/meta-data/",
		Headers: []mcpv1alpha1.HeaderSpec{{Name: "X-API-Key", Value: ptr.To("static-key")}}})
	testenv.Eventually(t, 30*time.Second, "the controller failing to connect", func() bool {
		cur := get(t, us)
		c := meta.FindStatusCondition(cur.Status.Conditions, mcpv1alpha1.ConditionConnected)
		return c != nil && c.Status == metav1.ConditionFalse && c.ObservedGeneration == cur.Generation
	})
	var (
		resp *http.Response
		body []byte
	)
	// The gateway reads the manager's cache, a moment behind the API server.
	testenv.Eventually(t, 10*time.Second, "the gateway seeing the controller's verdict", func() bool {
		resp, body = send(t, http.MethodGet, h.serverURL("metadata"), "", nil)
		return !strings.Contains(string(body), mcpv1alpha1.ReasonReconciling)
	})
	if resp.StatusCode != http.StatusServiceUnavailable || rpcErrorCode(body) != CodeNotReady || strings.Contains(string(body), metadataSecret) {
		t.Fatalf("a never-connected server answered %d %s, want 503 not connected", resp.StatusCode, body)
	}
	if seen := rec.fromCaller(); len(seen) != 0 {
		t.Fatalf("the caller's requests reached the never-connected server: %+v", seen)
	}
}

// On the legacy SSE transport the caller's query goes upstream only on the message URL the
// gateway handed out in the endpoint event; a forged session query is dropped.
func TestSSEQueryOnlyOnTheHandedOutMessageURL(t *testing.T) {
	rec := startRecorder(t)
	ns := newNamespace(t)
	h := startHarness(t, ns, nil)
	us := createServer(t, ns, "legacy", mcpv1alpha1.UpstreamServerSpec{URL: rec.URL + "/sse", Transport: mcpv1alpha1.TransportSSE})
	waitReady(t, us, 30*time.Second)
	url := h.serverURL("legacy")

	var stream *http.Response
	testenv.Eventually(t, 10*time.Second, "the gateway opening the event stream", func() bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("User-Agent", callerAgent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			stream = resp
			return true
		}
		_ = resp.Body.Close()
		return false
	})
	defer stream.Body.Close()
	endpoint := readEndpoint(t, bufio.NewReader(stream.Body))
	if !strings.HasPrefix(endpoint, "/servers/"+ns+"/legacy/mcp?") {
		t.Fatalf("endpoint event %q, want the gateway's path with the upstream's session query", endpoint)
	}
	before := len(rec.fromCaller())
	if resp, body := send(t, http.MethodPost, h.url+endpoint, initializeBody, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("posting to the handed-out endpoint: %d %s", resp.StatusCode, body)
	}
	send(t, http.MethodPost, url+"?sessionid=forged", initializeBody, nil)

	var queries []string
	for _, s := range rec.fromCaller()[before:] {
		if s.method == http.MethodPost {
			queries = append(queries, s.query)
		}
	}
	_, want, _ := strings.Cut(endpoint, "?")
	if len(queries) != 2 || queries[0] != want || queries[1] != "" {
		t.Fatalf("the upstream saw POST queries %q, want [%q \"\"]: only the handed-out one", queries, want)
	}
}

// readEndpoint reads the event stream up to the endpoint event and returns its data.
func readEndpoint(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	event := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && event == "endpoint":
			return strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
}
