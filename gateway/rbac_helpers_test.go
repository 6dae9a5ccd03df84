package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	. "github.com/mcpproxy/mcpproxy-operator/gateway"
)

// serviceAccountToken creates a ServiceAccount and returns a token for it (TokenRequest), the
// way a projected ServiceAccount token reaches a pod.
func serviceAccountToken(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := apiClient.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	tr := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := apiClient.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("requesting a token for %s: %v", name, err)
	}
	return tr.Status.Token
}

// applyRBACSample creates config/samples/gateway_rbac_sample.yaml in ns, its ServiceAccount
// subject moved to ns: it grants my-agent `use` on public-example.
func applyRBACSample(t *testing.T, ns string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "config", "samples", "gateway_rbac_sample.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("the sample has %d documents, want a Role and a RoleBinding", len(docs))
	}
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &role); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &binding); err != nil {
		t.Fatal(err)
	}
	role.Namespace, binding.Namespace = ns, ns
	for i := range binding.Subjects {
		binding.Subjects[i].Namespace = ns
	}
	if err := apiClient.Create(context.Background(), &role); err != nil {
		t.Fatal(err)
	}
	if err := apiClient.Create(context.Background(), &binding); err != nil {
		t.Fatal(err)
	}
}

// grantUse lets ServiceAccount sa use the UpstreamServer server, as the sample RBAC does.
func grantUse(t *testing.T, ns, sa, server string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "use-" + server, Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"},
			ResourceNames: []string{server}, Verbs: []string{VerbUse}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: sa + "-uses-" + server, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
	}
	if err := apiClient.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := apiClient.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
}

// rawPost sends one JSON-RPC message and returns the status, headers and body.
func rawPost(t *testing.T, url, token, sessionID, body string) (int, http.Header, []byte) {
	t.Helper()
	return rawPostWith(t, url, token, sessionID, body, nil)
}

// rawPostWith is rawPost with more request headers.
func rawPostWith(t *testing.T, url, token, sessionID, body string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sessionID != "" {
		req.Header.Set("Mcp-Session-Id", sessionID)
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// rpcErrorCode reads the JSON-RPC error code of an error answer (0 when there is none).
func rpcErrorCode(body []byte) int {
	var m struct {
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &m)
	return m.Error.Code
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
