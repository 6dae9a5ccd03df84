package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// CredentialPolicyMaxOthers is how many subjects other than oneself the shipped
// upstream-credential-binding policy lets one request bind (the API server's CEL budget bounds
// the authorization checks of a policy).
const CredentialPolicyMaxOthers = 12

// InstallCredentialPolicy installs the shipped upstream-credential-binding
// ValidatingAdmissionPolicy (config/admission) for namespace ns only, waits until the API server
// enforces it, and removes it when the test ends. Its binding selects ns alone, so other tests,
// which create credentials as the administrator, are unaffected.
func InstallCredentialPolicy(t testing.TB, ns string) {
	t.Helper()
	env, ctx := Current(), context.Background()
	name := installPolicy(t, ns, "upstream_credential_policy")
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
		err := env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err == nil {
			return false, fmt.Sprintf("a credential binding %d other users is still admitted", len(probe.Spec.Subjects))
		}
		return strings.Contains(err.Error(), name), err.Error()
	})
}
