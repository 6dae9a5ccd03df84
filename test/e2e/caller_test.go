package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/gateway"
)

// callerTokens collects the ServiceAccount tokens gateway callers presented, for the leak check
// (kept in memory only, like issued).
var callerTokens []string

// caller is a workload calling the manager's gateway as a ServiceAccount: its bearer token comes
// from the TokenRequest API, the way a projected token reaches a pod, and the gateway checks it
// with TokenReview and SubjectAccessReview.
type caller struct {
	sa    string
	token string
	hc    *http.Client
	tr    *http.Transport
}

// newCaller creates ServiceAccount ns/sa and a token for it. Everything the gateway answers it
// is appended to answers (a log file the leak check scans).
func newCaller(t *testing.T, ns, sa string, answers *answerLog) *caller {
	t.Helper()
	ctx := context.Background()
	acct := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
	if err := kube.Create(ctx, acct); err != nil {
		t.Fatalf("creating ServiceAccount %s: %v", sa, err)
	}
	req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := kube.SubResource("token").Create(ctx, acct, req); err != nil {
		t.Fatalf("requesting a token for %s: %v", sa, err)
	}
	issuedMu.Lock()
	callerTokens = append(callerTokens, req.Status.Token)
	issuedMu.Unlock()
	c := &caller{sa: sa, token: req.Status.Token, tr: http.DefaultTransport.(*http.Transport).Clone()}
	c.hc = &http.Client{Timeout: 30 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := c.tr.RoundTrip(r)
		if err == nil {
			answers.add(fmt.Sprintf("%s %s %s -> %s %v", sa, r.Method, r.URL.Path, resp.Status, resp.Header))
			resp.Body = &recordedBody{ReadCloser: resp.Body, log: answers}
		}
		return resp, err
	})}
	t.Cleanup(c.tr.CloseIdleConnections)
	return c
}

// closeIdle closes c's idle connections to the gateway. Call it before stopping the manager:
// a connection the transport dialled but never sent a request on holds the gateway's graceful
// shutdown for 5s.
func (c *caller) closeIdle() { c.tr.CloseIdleConnections() }

// grantUse lets ServiceAccounts sas of ns use UpstreamServer server: one Role with the verb
// `use` on that server alone and one RoleBinding, as config/samples/gateway_rbac_sample.yaml.
func grantUse(t *testing.T, ns, server string, sas ...string) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "use-" + server},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"},
			ResourceNames: []string{server}, Verbs: []string{gateway.VerbUse}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "use-" + server},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}}
	for _, sa := range sas {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa})
	}
	for _, o := range []client.Object{role, binding} {
		if err := kube.Create(context.Background(), o); err != nil {
			t.Fatalf("granting use of %s: %v", server, err)
		}
	}
}

// connect opens an MCP session (official SDK client, Streamable HTTP) to endpoint as c.
func (c *caller) connect(t *testing.T, endpoint string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: c.hc, MaxRetries: 1}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcpproxy-e2e-" + c.sa, Version: "v1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("%s connecting to %s: %v", c.sa, endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// rpcError is the wire shape of the gateway's JSON-RPC errors, decoded independently of the
// gateway's types.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    *struct {
		Server       string `json:"server"`
		Credential   string `json:"credential"`
		Reason       string `json:"reason"`
		LoginCommand string `json:"loginCommand"`
	} `json:"data,omitempty"`
}

func (e rpcError) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

// initialize posts a bare initialize to endpoint as c (or without a token when c is nil) and
// returns the HTTP status and the JSON-RPC error (zero when the answer is not one).
func initialize(t *testing.T, c *caller, endpoint string) (int, rpcError) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(initializeBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	hc := &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if c != nil {
		hc = c.hc
	} else {
		defer hc.CloseIdleConnections()
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("initialize at %s: %v", endpoint, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		Error rpcError `json:"error"`
	}
	if json.Unmarshal(b, &m) != nil {
		return resp.StatusCode, rpcError{Message: fmt.Sprintf("not a JSON-RPC error: %.100s", b)}
	}
	return resp.StatusCode, m.Error
}

// whoami calls the test server's whoami tool (named tool) through cs and returns the user it
// answers.
func whoami(cs *mcp.ClientSession, tool string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
	if err != nil {
		return "", err
	}
	if len(res.Content) == 0 {
		return "", fmt.Errorf("whoami answered no content")
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok || res.IsError {
		return "", fmt.Errorf("whoami answered an error or %T", res.Content[0])
	}
	return tc.Text, nil
}

// toolNames lists the tools a session is offered.
func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	names := make([]string, 0, len(res.Tools))
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// answerLog is a file under runDir/logs holding everything the gateway answered a scenario's
// callers (headers and bodies, event streams included), so the leak check proves no upstream
// token reached a caller.
type answerLog struct {
	mu sync.Mutex
	f  *os.File
}

func newAnswerLog(t *testing.T, name string) *answerLog {
	t.Helper()
	dir := filepath.Join(runDir, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "gateway-answers-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	a := &answerLog{f: f}
	t.Cleanup(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		_ = a.f.Close()
	})
	return a
}

func (a *answerLog) add(line string) { a.write([]byte(line + "\n")) }

func (a *answerLog) write(b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.f.Write(b)
}

// size is how many bytes were recorded.
func (a *answerLog) size(t *testing.T) int64 {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

type recordedBody struct {
	io.ReadCloser
	log *answerLog
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.log.write(bytes.Clone(p[:n]))
	}
	return n, err
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
