package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// policyEnforcedWithin bounds how long the API server takes to start enforcing a new
// ValidatingAdmissionPolicy binding (its policy informer resyncs asynchronously).
const policyEnforcedWithin = 30 * time.Second

// InstallHandOverPolicy installs the shipped login-handover ValidatingAdmissionPolicy
// (config/admission) for namespace ns only, waits until the API server enforces it, and removes
// it when the test ends. Its binding selects ns alone, so the suites' other tests, which hand
// tokens over as the administrator without the created-by annotation, are unaffected.
func InstallHandOverPolicy(t testing.TB, ns string) {
	t.Helper()
	env, ctx := Current(), context.Background()
	name := installPolicy(t, env.Client, env.Root, ns, "handover_policy")
	// A labelled Secret of another type is refused once the binding is in force; dry run, so
	// nothing is stored while it is not yet.
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-probe-", Namespace: ns,
		Labels: map[string]string{mcpv1alpha1.HandOverServerLabel: "probe"}}}
	Eventually(t, policyEnforcedWithin, "the hand-over policy to be enforced in "+ns, func() (bool, string) {
		err := env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err == nil {
			return false, "a labelled Secret of type Opaque is still admitted"
		}
		return strings.Contains(err.Error(), name), err.Error()
	})
}

// installPolicy installs the shipped ValidatingAdmissionPolicy config/admission/<file>.yaml of
// the repository at root and its binding, renamed for ns and bound to ns alone, with c (an
// administrator), removes both when the test ends, and returns the name.
func installPolicy(t testing.TB, c client.Client, root, ns, file string) string {
	t.Helper()
	var policy admissionv1.ValidatingAdmissionPolicy
	var binding admissionv1.ValidatingAdmissionPolicyBinding
	return installFor(t, c, root, ns, file, &policy, &binding, func(name string, sel *admissionv1.MatchResources) {
		binding.Spec.PolicyName, binding.Spec.MatchResources = name, sel
	})
}

// installFor reads config/admission/<file>.yaml into policy and <file>_binding.yaml into
// binding, names both after the policy and ns, lets bind point the binding at that name and at
// ns alone, creates both with c and deletes them when the test ends. It returns the name.
func installFor(t testing.TB, c client.Client, root, ns, file string, policy, binding client.Object,
	bind func(name string, sel *admissionv1.MatchResources)) string {
	t.Helper()
	readManifest(t, filepath.Join(root, "config", "admission", file+".yaml"), policy)
	readManifest(t, filepath.Join(root, "config", "admission", file+"_binding.yaml"), binding)
	name := policy.GetName() + "-" + ns
	policy.SetName(name)
	binding.SetName(name)
	bind(name, &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}})
	for _, o := range []client.Object{policy, binding} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("installing the policy %s: %v", name, err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
	}
	return name
}

// readManifest decodes one YAML manifest into obj.
func readManifest(t testing.TB, path string, obj any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// ClientAs is a client that reaches the API server as user (impersonated by the administrator),
// so a test exercises real RBAC and admission for that user.
func ClientAs(t testing.TB, user string, groups ...string) client.Client {
	t.Helper()
	env := Current()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
