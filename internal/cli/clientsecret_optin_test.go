package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// The allowed-servers opt-in holds for the CLI too: `mcpproxy auth login` reads
// spec.oauth.clientSecretRef with the caller's own credentials, and must not send a Secret that
// does not allow the server to whatever token endpoint the server's URL leads to.
//
// Mallory may manage UpstreamServers but not read Secrets. She points a server at her own MCP
// server + authorization server (so the controller asks for a login), then names the victim's
// unannotated Secret in clientSecretRef. Bob, who may read Secrets, runs the login the status
// asks for: the value never reaches Mallory's token endpoint.
func TestLoginNeverSendsAnUnannotatedClientSecret(t *testing.T) {
	const victimValue = "victim-confidential-client-secret-0123456789"
	ctx := context.Background()
	ns := newNamespace(t)

	// Bob's Secret: never opted in for any server.
	if err := apiClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-client"},
		Data: map[string][]byte{"secret": []byte(victimValue)}}); err != nil {
		t.Fatal(err)
	}

	// Mallory's MCP server and authorization server, with a recorder on its token endpoint.
	var mu sync.Mutex
	var seen []string
	ts := httptest.NewUnstartedServer(nil)
	evil := oauthserver.New(oauthserver.Options{BaseURL: "http://" + ts.Listener.Addr().String(), AutoApprove: true,
		NoDCR: true, Clients: map[string]string{"mcpproxy-pre": ""}})
	inner := evil.Handler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			_, basic, _ := r.BasicAuth()
			basic, _ = url.QueryUnescape(basic)
			mu.Lock()
			seen = append(seen, form.Get("client_secret"), basic)
			mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(ts.Close)

	// Mallory: UpstreamServers only, no Secret verb at all.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "servers-only", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "servers-only-mallory", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "mallory"}}}
	for _, o := range []client.Object{role, binding} {
		if err := apiClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	mallory := testenv.ClientAs(t, "mallory")
	if err := mallory.Get(ctx, types.NamespacedName{Namespace: ns, Name: "vault-client"}, &corev1.Secret{}); err == nil {
		t.Fatal("mallory can read the Secret; the test needs her not to")
	}
	us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm"},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: evil.MCPURL()}}
	testenv.Eventually(t, 30*time.Second, "mallory's Role in force", func() bool { return mallory.Create(ctx, us.DeepCopy()) == nil })
	testenv.Eventually(t, 30*time.Second, "server asks for a login", func() bool {
		return condIs(getUS(t, ns, "crm"), mcpv1alpha1.ConditionAuthorizationRequired, "True")
	})
	cur := getUS(t, ns, "crm")
	cur.Spec.OAuth = &mcpv1alpha1.OAuthSpec{ClientID: "mcpproxy-pre",
		ClientSecretRef: &mcpv1alpha1.SecretKeyReference{Name: "vault-client", Key: "secret"}}
	if err := mallory.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	// The manager refuses the Secret (the fix works there) ...
	testenv.Eventually(t, 30*time.Second, "ConfigInvalid naming the annotation", func() (bool, string) {
		c := meta.FindStatusCondition(getUS(t, ns, "crm").Status.Conditions, mcpv1alpha1.ConditionAuthenticated)
		return c != nil && c.Reason == mcpv1alpha1.ReasonConfigInvalid && c.ObservedGeneration == cur.Generation, describeConds(getUS(t, ns, "crm"))
	})
	// Bob logs in to it anyway.
	useBrowser(t, "follow")
	out, errOut, code := runCLI(t, testEnv(), append([]string{"auth", "login", "crm", "--force", "--timeout", "30s"}, kubeArgs(ns)...)...)
	t.Logf("bob's login: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)

	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if s == victimValue {
			t.Fatalf("the unannotated Secret vault-client reached mallory's token endpoint (%s)", evil.Issuer()+"/token")
		}
	}
	t.Logf("token endpoint saw %d requests; no victim secret", len(seen)/2)
}

func describeConds(us *mcpv1alpha1.UpstreamServer) string {
	if us == nil {
		return "<gone>"
	}
	var b strings.Builder
	for _, c := range us.Status.Conditions {
		b.WriteString(c.Type + "=" + string(c.Status) + "(" + c.Reason + "): " + c.Message + "\n")
	}
	return b.String()
}
