package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv"
)

// The login-handover ValidatingAdmissionPolicy (config/admission), enforced by the real API
// server, with real RBAC and impersonated users:
//   - alice has only the built-in edit ClusterRole: she may create Secrets;
//   - bob also has the shipped editor ClusterRole (config/rbac), which grants verb login;
//   - carol has edit and login on another server only (resourceNames);
//   - victor has edit and the shipped viewer ClusterRole, which grants no login.
type admissionCase struct {
	name    string
	as      string
	secret  func(us *mcpv1alpha1.UpstreamServer) *corev1.Secret
	refused string // a part of the refusal's message; "" when admitted
}

func TestAdmissionOfHandOvers(t *testing.T) {
	ns := newNamespace(t)
	us := createServer(t, ns, "linear", "https://mcp.example.com/mcp")
	bindUsers(t, ns)
	testenv.InstallHandOverPolicy(t, ns)

	for _, tc := range []admissionCase{
		{"edit alone cannot hand over", "alice", handOverBy("alice"),
			"you need verb login on upstreamservers/linear (group mcp.mcpproxy.dev) in namespace " + ns},
		{"login on another server is not enough", "carol", handOverBy("carol"), "you need verb login on upstreamservers/linear"},
		{"the viewer role grants no login", "victor", handOverBy("victor"), "you need verb login on upstreamservers/linear"},
		{"login without the created-by annotation", "bob", handOverBy(""), "mcpproxy.dev/created-by must name the user handing the login over (bob), but it is missing"},
		{"login with a forged created-by annotation", "bob", handOverBy("alice"), "but it is 'alice'"},
		{"login with the right annotation", "bob", handOverBy("bob"), ""},
		{"a labelled Secret of another type", "bob", func(us *mcpv1alpha1.UpstreamServer) *corev1.Secret {
			s := handOverBy("bob")(us)
			s.Type = corev1.SecretTypeOpaque
			return s
		}, "must be of type mcpproxy.dev/login"},
		{"a hand-over without the label", "bob", func(us *mcpv1alpha1.UpstreamServer) *corev1.Secret {
			s := handOverBy("bob")(us)
			s.Labels = nil
			return s
		}, "must carry the label mcpproxy.dev/upstream-server"},
		{"an ordinary Secret is unaffected", "alice", func(us *mcpv1alpha1.UpstreamServer) *corev1.Secret {
			return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "plain-", Namespace: us.Namespace},
				Data: map[string][]byte{"k": []byte("v")}}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := testenv.ClientAs(t, tc.as).Create(context.Background(), tc.secret(us))
			checkAdmission(t, err, tc.refused)
		})
	}
}

// TestAdmissionRefusesHandOverChanges: a pending hand-over cannot be rewritten (its token
// swapped), not even by its creator; metadata the garbage collector manages may change.
func TestAdmissionRefusesHandOverChanges(t *testing.T) {
	ns := newNamespace(t)
	us := createServer(t, ns, "linear", "https://mcp.example.com/mcp")
	bindUsers(t, ns)
	testenv.InstallHandOverPolicy(t, ns)
	ctx := context.Background()
	sec := handOverBy("bob")(us)
	if err := testenv.ClientAs(t, "bob").Create(ctx, sec); err != nil {
		t.Fatalf("bob's hand-over was refused: %v", err)
	}
	for _, who := range []string{"alice", "bob"} {
		changed := sec.DeepCopy()
		changed.Data[mcpv1alpha1.HandOverDataKey] = []byte(`{"version":1,"accessToken":"planted-by-` + who + `"}`)
		checkAdmission(t, testenv.ClientAs(t, who).Update(ctx, changed), "a login hand-over cannot be changed")
	}
	relabelled := sec.DeepCopy()
	relabelled.Labels[mcpv1alpha1.HandOverServerLabel] = "other"
	checkAdmission(t, apiClient.Update(ctx, relabelled), "a login hand-over cannot be changed")

	orphaned := sec.DeepCopy()
	orphaned.OwnerReferences = nil
	checkAdmission(t, apiClient.Update(ctx, orphaned), "")
}

// TestAdmissionWithoutThePolicy shows what the policy closes: without it, edit alone plants a
// hand-over, so the refusals above are the policy's doing.
func TestAdmissionWithoutThePolicy(t *testing.T) {
	ns := newNamespace(t)
	us := createServer(t, ns, "linear", "https://mcp.example.com/mcp")
	bindUsers(t, ns)
	checkAdmission(t, testenv.ClientAs(t, "alice").Create(context.Background(), handOverBy("")(us)), "")
}

func checkAdmission(t *testing.T, err error, refused string) {
	t.Helper()
	switch {
	case refused == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case refused != "" && err == nil:
		t.Fatalf("admitted, want a refusal saying %q", refused)
	case refused != "" && !strings.Contains(err.Error(), refused):
		t.Fatalf("refused with %q, want it to say %q", err, refused)
	case err != nil:
		t.Logf("refused: %v", err)
	}
}

// handOverBy builds the Secret `mcpproxy auth login` creates, annotated as created by user
// (no annotation when user is "").
func handOverBy(user string) func(us *mcpv1alpha1.UpstreamServer) *corev1.Secret {
	return func(us *mcpv1alpha1.UpstreamServer) *corev1.Secret {
		s := mcpv1alpha1.NewHandOverSecret(us, []byte(`{"version":1}`))
		if user != "" {
			s.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: user}
		}
		return s
	}
}

// bindUsers binds alice, bob and carol in ns as the type comment says.
func bindUsers(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	editor, viewer := shippedRole(t, "upstreamserver_user_role.yaml", ns), shippedRole(t, "upstreamserver_viewer_role.yaml", ns)
	edit := aggregated(t, "edit", ns)
	loginOther := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "login-other", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"},
			Verbs: []string{"login"}, ResourceNames: []string{"other"}}}}
	objs := []client.Object{editor, viewer, loginOther,
		roleBinding(ns, "ClusterRole", edit, "alice", "bob", "carol", "victor"),
		roleBinding(ns, "ClusterRole", editor.Name, "bob"),
		roleBinding(ns, "ClusterRole", viewer.Name, "victor"),
		roleBinding(ns, "Role", loginOther.Name, "carol")}
	for _, o := range objs {
		if err := apiClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = apiClient.Delete(context.Background(), editor)
		_ = apiClient.Delete(context.Background(), viewer)
	})
	// Alice may create Secrets, so her refusal is the policy's and not RBAC's.
	plain := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "rbac-probe-", Namespace: ns}}
	if err := testenv.ClientAs(t, "alice").Create(ctx, plain, client.DryRunAll); err != nil {
		t.Fatalf("alice (edit) may not create Secrets: %v", err)
	}
}

// shippedRole reads a ClusterRole of config/rbac, named apart for namespace ns.
func shippedRole(t *testing.T, file, ns string) *rbacv1.ClusterRole {
	t.Helper()
	var r rbacv1.ClusterRole
	data, err := os.ReadFile(filepath.Join(testenv.Current().Root, "config", "rbac", file))
	if err == nil {
		err = yaml.UnmarshalStrict(data, &r)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.Name += "-" + ns
	return &r
}

func roleBinding(ns, kind, role string, users ...string) *rbacv1.RoleBinding {
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.ToLower(role) + "-", Namespace: ns},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}}
	for _, u := range users {
		rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	return rb
}

// aggregated creates (for the test) the built-in ClusterRole name with its rules aggregated as
// kube-controller-manager does in a cluster (envtest runs no controller manager, so there the
// built-in edit role has no rules of its own): the union of the roles its aggregationRule selects,
// ours included, so a role of ours that aggregated login into edit would show here.
func aggregated(t *testing.T, name, ns string) string {
	t.Helper()
	ctx := context.Background()
	var builtin rbacv1.ClusterRole
	if err := apiClient.Get(ctx, client.ObjectKey{Name: name}, &builtin); err != nil {
		t.Fatal(err)
	}
	out := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name + "-aggregated-" + ns}, Rules: builtin.Rules}
	for _, sel := range builtin.AggregationRule.ClusterRoleSelectors {
		var list rbacv1.ClusterRoleList
		if err := apiClient.List(ctx, &list, client.MatchingLabels(sel.MatchLabels)); err != nil {
			t.Fatal(err)
		}
		for _, r := range list.Items {
			out.Rules = append(out.Rules, r.Rules...)
		}
	}
	if err := apiClient.Create(ctx, out); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = apiClient.Delete(context.Background(), out) })
	return out.Name
}
