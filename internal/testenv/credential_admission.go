package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// CredentialPolicyMaxOthers is how many subjects other than oneself the shipped
// upstream-credential-binding policy lets one request bind (the API server's CEL budget bounds
// the authorization checks of a policy).
const CredentialPolicyMaxOthers = 12

// InstallCredentialPolicy installs the shipped upstream-credential-binding
// ValidatingAdmissionPolicy and upstream-credential-creator MutatingAdmissionPolicy
// (config/admission) for namespace ns only, waits until the API server enforces both, and
// removes them when the test ends. Their bindings select ns alone, so other tests, which create
// credentials as the administrator, are unaffected.
func InstallCredentialPolicy(t testing.TB, ns string) {
	t.Helper()
	env := Current()
	InstallCredentialPolicyOn(t, env.Client, env.Root, ns)
}

// InstallCredentialPolicyOn is InstallCredentialPolicy on a control plane that Main did not
// start (test/e2e's): c reaches it as an administrator, root is the repository.
func InstallCredentialPolicyOn(t testing.TB, c client.Client, root, ns string) {
	t.Helper()
	ctx := context.Background()
	name := installPolicy(t, c, root, ns, "upstream_credential_policy")
	// Even the administrator, who may impersonate anyone, is refused one subject more than a
	// request may bind; dry run, so nothing is stored while the binding is not yet in force.
	probe := &mcpv1alpha1.UpstreamCredential{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: ns},
		Spec:       mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "probe"}},
	}
	for i := 0; i <= CredentialPolicyMaxOthers; i++ {
		probe.Spec.Subjects = append(probe.Spec.Subjects,
			mcpv1alpha1.CredentialSubject{Kind: mcpv1alpha1.SubjectUser, Name: fmt.Sprintf("policy-probe-%d", i)})
	}
	Eventually(t, policyEnforcedWithin, "the credential policy to be enforced in "+ns, func() (bool, string) {
		err := c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err == nil {
			return false, fmt.Sprintf("a credential binding %d other users is still admitted", len(probe.Spec.Subjects))
		}
		return strings.Contains(err.Error(), name), err.Error()
	})
	installCreatorPolicy(t, c, root, ns)
}

// installCreatorPolicy installs the shipped upstream-credential-creator MutatingAdmissionPolicy
// and its binding, renamed for ns and bound to ns alone, waits until the API server writes the
// creator of a (dry-run) credential, and removes both when the test ends.
func installCreatorPolicy(t testing.TB, c client.Client, root, ns string) {
	t.Helper()
	var policy admissionv1.MutatingAdmissionPolicy
	var binding admissionv1.MutatingAdmissionPolicyBinding
	installFor(t, c, root, ns, "upstream_credential_creator_policy", &policy, &binding, func(name string, sel *admissionv1.MatchResources) {
		binding.Spec.PolicyName, binding.Spec.MatchResources = name, sel
	})
	probe := &mcpv1alpha1.UpstreamCredential{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: ns},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{ServerRef: mcpv1alpha1.ServerReference{Name: "probe"},
			Subjects: []mcpv1alpha1.CredentialSubject{{Kind: mcpv1alpha1.SubjectUser, Name: "policy-probe"}}},
	}
	Eventually(t, policyEnforcedWithin, "the creator policy to be enforced in "+ns, func() (bool, string) {
		got := probe.DeepCopy()
		if err := c.Create(context.Background(), got, client.DryRunAll); err != nil {
			return false, err.Error()
		}
		return got.Annotations[mcpv1alpha1.AnnotationCreatedBy] != "", "no creator written yet"
	})
}
