package testenv

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// InstallServerPolicy installs the shipped persubject-server-deletion ValidatingAdmissionPolicy
// (config/admission) for namespace ns only, waits until the API server enforces it, and removes
// it when the test ends.
func InstallServerPolicy(t testing.TB, ns string) {
	t.Helper()
	env, ctx := Current(), context.Background()
	name := installPolicy(t, env.Client, env.Root, ns, "persubject_server_policy")
	// A user who may create servers, but not delete-persubject, is refused a PerSubject server
	// with an owner reference once the binding is in force; dry run, so nothing is stored.
	probeUser := "policy-probe-" + ns
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "policy-probe", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{mcpv1alpha1.GroupVersion.Group}, Resources: []string{"upstreamservers"}, Verbs: []string{"create"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "policy-probe", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: probeUser}}}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	probe := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: ns,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "probe", UID: "probe"}}},
		Spec: mcpv1alpha1.UpstreamServerSpec{URL: "https://mcp.example.com/mcp", CredentialMode: mcpv1alpha1.CredentialModePerSubject}}
	as := ClientAs(t, probeUser)
	Eventually(t, policyEnforcedWithin, "the PerSubject server policy to be enforced in "+ns, func() (bool, string) {
		err := as.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err == nil {
			return false, "a PerSubject server with an owner reference is still admitted"
		}
		return strings.Contains(err.Error(), name), err.Error()
	})
}
