package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// whoamiScopes are the scopes a login needs for test/oauthserver's whoami tool.
var whoamiScopes = []string{"mcp", "profile"}

// createPerSubjectServer creates a PerSubject UpstreamServer whose logins ask for whoamiScopes.
func createPerSubjectServer(t *testing.T, ns, name, url string) *mcpv1alpha1.UpstreamServer {
	t.Helper()
	return createServer(t, ns, name, mcpv1alpha1.UpstreamServerSpec{URL: url,
		CredentialMode: mcpv1alpha1.CredentialModePerSubject, OAuth: &mcpv1alpha1.OAuthSpec{Scopes: whoamiScopes}})
}

func saSubject(ns, name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectServiceAccount, Namespace: ns, Name: name}
}

func groupSubject(name string) mcpv1alpha1.CredentialSubject {
	return mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectGroup, Name: name}
}

// createCredential creates an UpstreamCredential of server for subjects, as an administrator
// (the binding admission policy is not installed in these namespaces).
func createCredential(t *testing.T, ns, name, server string, subjects ...mcpv1alpha1.CredentialSubject) *mcpv1alpha1.UpstreamCredential {
	t.Helper()
	c := &mcpv1alpha1.UpstreamCredential{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: server}, Subjects: subjects}}
	if err := apiClient.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// loginCredentialAs logs in to c's server headlessly as upstream user, with the server's
// scopes (whoami needs profile), and hands the login over to c as `mcpproxy auth login --for`
// does; then it waits until the controller proved the token (Ready, Verified).
func loginCredentialAs(t *testing.T, srv *oauthserver.Server, c *mcpv1alpha1.UpstreamCredential, user string) {
	t.Helper()
	us := &mcpv1alpha1.UpstreamServer{}
	if err := apiClient.Get(context.Background(), client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.ServerRef.Name}, us); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := oauth.Login(ctx, oauth.Config{ServerURL: us.Spec.URL, Scopes: whoamiScopes}, oauth.LoginOptions{
		OpenBrowser: func(authURL string) error {
			go func() {
				back, err := srv.FollowAuthorizeAs(authURL, user)
				if err != nil {
					t.Errorf("authorize: %v", err)
					return
				}
				if resp, err := http.Get(back.String()); err == nil {
					_ = resp.Body.Close()
				}
			}()
			return nil
		},
	})
	if err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
	testenv.HandOverCredential(t, c, browserlogin.HandOver(res, us.Spec.URL, time.Now()))
	testenv.Eventually(t, 30*time.Second, c.Name+" Ready", func() bool {
		cur := &mcpv1alpha1.UpstreamCredential{}
		if err := apiClient.Get(context.Background(), client.ObjectKeyFromObject(c), cur); err != nil {
			t.Fatal(err)
		}
		r := meta.FindStatusCondition(cur.Status.Conditions, mcpv1alpha1.ConditionReady)
		return r != nil && r.Status == metav1.ConditionTrue && r.Reason == mcpv1alpha1.ReasonVerified
	})
}

// grantUseTo lets ServiceAccounts sas use the UpstreamServer server (one Role, one RoleBinding).
func grantUseTo(t *testing.T, ns, server string, sas ...string) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "use-" + server, Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"},
			ResourceNames: []string{server}, Verbs: []string{VerbUse}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "use-" + server, Namespace: ns},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}}
	for _, sa := range sas {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns})
	}
	for _, o := range []client.Object{role, binding} {
		if err := apiClient.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// tap keeps everything the gateway answered a test's callers: headers and bodies (event
// streams included), to prove that no upstream token ever reached them.
type tap struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (p *tap) add(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.b.Write(b)
}

func (p *tap) addHeader(h http.Header) { p.add(fmt.Appendf(nil, "%v\n", h)) }

func (p *tap) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.String()
}

// noSecrets fails when an OAuth secret srv issued is in what the callers were answered.
func (p *tap) noSecrets(t *testing.T, srv *oauthserver.Server) {
	t.Helper()
	seen := p.String()
	if len(seen) == 0 {
		t.Fatal("the tap recorded nothing")
	}
	for _, s := range srv.IssuedSecrets() {
		if strings.Contains(seen, s) {
			t.Fatal("an upstream token or secret reached a caller")
		}
	}
}

type tapBody struct {
	io.ReadCloser
	p *tap
}

func (b tapBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	b.p.add(buf[:n])
	return n, err
}

// callerClient presents token and the extra headers, and records the answers in p.
func callerClient(token string, extra http.Header, p *tap) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		for k, v := range extra {
			r.Header[k] = v
		}
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			p.addHeader(resp.Header)
			resp.Body = tapBody{ReadCloser: resp.Body, p: p}
		}
		return resp, err
	})}
}

// connectAs opens an SDK client session to endpoint as token's caller.
func connectAs(t *testing.T, endpoint, token string, extra http.Header, p *tap) *mcp.ClientSession {
	t.Helper()
	tr := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: callerClient(token, extra, p), MaxRetries: 1}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "gateway-test", Version: "v0"}, nil).Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatalf("connecting to %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// whoami calls the whoami tool (named name) and returns the user it answers.
func whoami(cs *mcp.ClientSession, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
	if err != nil {
		return "", err
	}
	if tc, ok := firstText(res); ok && !res.IsError {
		return tc, nil
	}
	return "", errUnexpected(res)
}

func firstText(res *mcp.CallToolResult) (string, bool) {
	if len(res.Content) == 0 {
		return "", false
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		return "", false
	}
	return tc.Text, true
}

// expectWhoami fails unless whoami through cs answers want.
func expectWhoami(t *testing.T, cs *mcp.ClientSession, tool, want, via string) {
	t.Helper()
	got, err := whoami(cs, tool)
	if err != nil || got != want {
		t.Fatalf("whoami through %s = %q, %v; want %q", via, got, err, want)
	}
}

// rawCall posts one JSON-RPC message with the extra headers, recording the answer in p, and
// decodes the JSON-RPC error (zero when there is none).
func rawCall(t *testing.T, url, token string, extra http.Header, body string, p *tap) (int, rpcError) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := callerClient(token, extra, p).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		Error rpcError `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		// Not a JSON-RPC error (an event stream answering the call, say): the caller's checks
		// say what they wanted, and a poll can ask again.
		return resp.StatusCode, rpcError{Message: fmt.Sprintf("not a JSON-RPC error answer: %.100s", b)}
	}
	return resp.StatusCode, m.Error
}

// credentialHeader is the CredentialHeader naming value.
func credentialHeader(value string) http.Header { return http.Header{CredentialHeader: {value}} }
