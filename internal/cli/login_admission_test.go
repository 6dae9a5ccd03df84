package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
	"github.com/mcpproxy/mcpproxy-operator/test/oauthserver"
)

// TestLoginUnderTheHandOverPolicy runs `auth login` as impersonated users where the hand-over
// admission policy is enforced: dana, bound to the shipped editor role, logs in (the CLI named
// her in the created-by annotation, or the policy would have refused); eve, who may create
// Secrets but lacks verb login, is refused with what to ask for.
func TestLoginUnderTheHandOverPolicy(t *testing.T) {
	srv := startServer(t, oauthserver.Options{})
	ns := newNamespace(t)
	createServer(t, ns, "alpha", srv.MCPURL())
	editor := bindEditorRole(t, ns, "dana")
	secretsOnly := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "secrets-only", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "get"}},
		{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers", "upstreamservers/status"}, Verbs: []string{"get", "list", "watch"}},
	}}
	create(t, secretsOnly, binding(ns, "Role", secretsOnly.Name, "eve"))
	testenv.InstallHandOverPolicy(t, ns)
	useBrowser(t, "follow")

	out, errOut, code := runCLI(t, testEnv(), "auth", "login", "alpha", "--timeout", "60s", "--kubeconfig", kubeconfigAs(t, "eve"), "-n", ns)
	if code != ExitFailed || !strings.Contains(errOut, "you need verb login on upstreamservers/alpha") {
		t.Errorf("eve (no login verb): exit %d, want %d and the verb named\nstdout:\n%s\nstderr:\n%s", code, ExitFailed, out, errOut)
	}
	out, errOut, code = runCLI(t, testEnv(), "auth", "login", "alpha", "--timeout", "60s", "--kubeconfig", kubeconfigAs(t, "dana"), "-n", ns)
	if code != 0 || !strings.Contains(out, "is Ready") {
		t.Fatalf("dana (%s): exit %d\nstdout:\n%s\nstderr:\n%s", editor, code, out, errOut)
	}
	if strings.Contains(errOut, "Warning") {
		t.Errorf("dana's login warned:\n%s", errOut)
	}
}

// bindEditorRole creates the shipped editor ClusterRole (config/rbac) under a name of this test
// and binds it to user in ns.
func bindEditorRole(t *testing.T, ns, user string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.Current().Root, "config", "rbac", "upstreamserver_user_role.yaml"))
	var role rbacv1.ClusterRole
	if err == nil {
		err = yaml.UnmarshalStrict(data, &role)
	}
	if err != nil {
		t.Fatal(err)
	}
	role.Name += "-" + ns
	create(t, &role, binding(ns, "ClusterRole", role.Name, user))
	t.Cleanup(func() { _ = apiClient.Delete(context.Background(), &role) })
	return role.Name
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := apiClient.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func binding(ns, kind, role, user string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "bind-", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
}

// kubeconfigAs writes a copy of the administrator's kubeconfig that impersonates user (as
// `kubectl --as` does), so the CLI runs with that user's RBAC and admission.
func kubeconfigAs(t *testing.T, user string) string {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+user)
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
