package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const deletePolicySuffix = "-manager-secret-deletes"

// managerUser is the username the API server gives the rendered Deployment's ServiceAccount.
func managerUser(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	dep, _ := manager(t, objs)
	ns := dep.Namespace
	if ns == "" {
		t.Fatal("the rendered Deployment has no namespace")
	}
	return "system:serviceaccount:" + ns + ":" + dep.Spec.Template.Spec.ServiceAccountName
}

// configDeletePolicy reads config/admission's manager delete policy and binding.
func configDeletePolicy(t *testing.T) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	return configValidating(t, "manager_secret_deletes_policy")
}

// forUser is a policy spec with its manager username replaced.
func forUser(t *testing.T, spec *admissionv1.ValidatingAdmissionPolicySpec, from, to string) *admissionv1.ValidatingAdmissionPolicySpec {
	t.Helper()
	out := spec.DeepCopy()
	replaced := 0
	for i, c := range out.MatchConditions {
		if strings.Contains(c.Expression, "'"+from+"'") {
			out.MatchConditions[i].Expression = strings.ReplaceAll(c.Expression, "'"+from+"'", "'"+to+"'")
			replaced++
		}
	}
	if replaced != 1 {
		t.Fatalf("the policy's match conditions name %s %d times, want once: %+v", from, replaced, spec.MatchConditions)
	}
	return out
}

// TestManagerDeletePolicyMatchesConfig: config/default and the chart ship config/admission's
// policy limiting the manager's Secret deletions, each naming its own manager ServiceAccount
// (config/default's namespace and prefixed name; the chart's release namespace and
// serviceAccountName), bound in every namespace; admissionPolicy.enabled=false renders none.
func TestManagerDeletePolicyMatchesConfig(t *testing.T) {
	src, srcBinding := configDeletePolicy(t)
	kobjs := kustomizeDefault(t)
	kuser := managerUser(t, kobjs)
	sa := convert[corev1.ServiceAccount](t, one(t, kobjs, "ServiceAccount"))
	if want := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name; kuser != want {
		t.Fatalf("config/default's Deployment runs as %s, its ServiceAccount is %s", kuser, want)
	}
	p, b := renderedPolicyNamed(t, kobjs, deletePolicySuffix)
	if p == nil {
		t.Fatal("config/default has no manager delete policy")
	}
	// forUser fails unless config/admission names config/default's manager.
	checkPolicy(t, "config/default", p, b, forUser(t, &src.Spec, kuser, kuser), srcBinding)

	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			objs := render(t, vc)
			p, b := renderedPolicyNamed(t, objs, deletePolicySuffix)
			if vc.file == "values-minimal.yaml" {
				if p != nil {
					t.Fatalf("admissionPolicy.enabled=false rendered %s", p.Name)
				}
				return
			}
			if p == nil {
				t.Fatal("the chart renders no manager delete policy by default")
			}
			user := managerUser(t, objs)
			if !strings.HasPrefix(user, "system:serviceaccount:"+vc.namespace+":") {
				t.Errorf("the chart's manager runs as %s, not in the release namespace %s", user, vc.namespace)
			}
			checkPolicy(t, "chart", p, b, forUser(t, &src.Spec, kuser, user), srcBinding)
		})
	}
}

// TestManagerMayDeleteOnlyHandOvers installs config/default's and the chart's manager delete
// policy on the API server for real and, impersonating each manager's ServiceAccount (allowed by
// RBAC to delete Secrets), deletes: an Opaque Secret is refused, a login hand-over is deleted;
// another user still deletes the Opaque Secret.
func TestManagerMayDeleteOnlyHandOvers(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs func(t *testing.T) []*unstructured.Unstructured
	}{
		{"config-default", kustomizeDefault},
		{"chart", func(t *testing.T) []*unstructured.Unstructured {
			return render(t, valuesCase{name: "deletes", namespace: "mcp-deletes"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.objs(t)
			p, b := renderedPolicyNamed(t, objs, deletePolicySuffix)
			if p == nil {
				t.Fatal("no manager delete policy rendered")
			}
			checkDeletesAs(t, p, b, managerUser(t, objs), "mcp-deletes-"+tc.name)
		})
	}
}

func checkDeletesAs(t *testing.T, p *admissionv1.ValidatingAdmissionPolicy, b *admissionv1.ValidatingAdmissionPolicyBinding, user, ns string) {
	t.Helper()
	ctx := context.Background()
	cs := kubernetes.NewForConfigOrDie(restCfg)
	ensureNamespace(t, ns)
	must(t, created(cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, p, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, p.Name, metav1.DeleteOptions{})
	})
	must(t, created(cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, b, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, b.Name, metav1.DeleteOptions{})
	})
	// RBAC lets the manager delete any Secret here: only the policy can refuse.
	saNS, saName := saOf(t, user)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "delete-secrets", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "delete"}}}}
	must(t, created(cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{})))
	must(t, created(cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "delete-secrets", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: saName, Namespace: saNS}},
	}, metav1.CreateOptions{})))

	plain := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "database", Namespace: ns},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2")}}
	must(t, created(cs.CoreV1().Secrets(ns).Create(ctx, plain, metav1.CreateOptions{})))
	handOver := handOverSecret(t, cs, ns)
	must(t, created(cs.CoreV1().Secrets(ns).Create(ctx, handOver, metav1.CreateOptions{})))

	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	asManager := kubernetes.NewForConfigOrDie(cfg).CoreV1().Secrets(ns)
	// Bindings and RBAC take effect asynchronously: dry-run until the policy refuses.
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		err = asManager.Delete(ctx, plain.Name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), p.Name) {
			break
		}
	}
	if err == nil || !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "may delete only login hand-overs") {
		t.Fatalf("%s deleting the Opaque Secret %s (dry run): %v; want a refusal by %s", user, plain.Name, err, p.Name)
	}
	if err := asManager.Delete(ctx, plain.Name, metav1.DeleteOptions{}); err == nil || !strings.Contains(err.Error(), p.Name) {
		t.Errorf("%s deleted the Opaque Secret %s: %v", user, plain.Name, err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(ctx, plain.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("the Opaque Secret is gone: %v", err)
	}
	if err := asManager.Delete(ctx, handOver.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("%s may not delete the login hand-over %s: %v", user, handOver.Name, err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(ctx, handOver.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the hand-over was not deleted: %v", err)
	}
	checkTokenRecordDeletes(t, p, user, ns)
	// Anyone else is not matched: the administrator deletes the Opaque Secret.
	if err := cs.CoreV1().Secrets(ns).Delete(ctx, plain.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("the policy refused another user's deletion: %v", err)
	}
}

// saOf splits a ServiceAccount username into namespace and name.
func saOf(t *testing.T, user string) (string, string) {
	t.Helper()
	parts := strings.Split(user, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		t.Fatalf("%s is not a ServiceAccount username", user)
	}
	return parts[2], parts[3]
}

// handOverSecret is a login hand-over the administrator may create even while a test's
// login-handover policy is installed: it names the administrator as its creator.
func handOverSecret(t *testing.T, cs kubernetes.Interface, ns string) *corev1.Secret {
	t.Helper()
	who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("who is the test's user: %v", err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "linear-login", Namespace: ns,
			Labels:      map[string]string{"mcpproxy.dev/upstream-server": "linear"},
			Annotations: map[string]string{"mcpproxy.dev/created-by": who.Status.UserInfo.Username}},
		Type: "mcpproxy.dev/login",
		Data: map[string][]byte{"login.json": []byte(`{"version":1}`)},
	}
}

// checkTokenRecordDeletes: the manager may delete the Secrets token store's records (type
// mcpproxy.dev/token) in its own namespace, and not in another (ns).
func checkTokenRecordDeletes(t *testing.T, p *admissionv1.ValidatingAdmissionPolicy, user, ns string) {
	t.Helper()
	ctx := context.Background()
	cs := kubernetes.NewForConfigOrDie(restCfg)
	saNS, saName := saOf(t, user)
	ensureNamespace(t, saNS)
	ignoreExists := func(_ any, err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "delete-token-records", Namespace: saNS},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "delete"}}}}
	must(t, ignoreExists(cs.RbacV1().Roles(saNS).Create(ctx, role, metav1.CreateOptions{})))
	must(t, ignoreExists(cs.RbacV1().RoleBindings(saNS).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "delete-token-records", Namespace: saNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: saName, Namespace: saNS}},
	}, metav1.CreateOptions{})))
	record := func(ns string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{GenerateName: "mcpproxy-token-", Namespace: ns,
			Labels: map[string]string{"mcpproxy.dev/token-server": "0123"}},
			Type: "mcpproxy.dev/token", Data: map[string][]byte{"record": []byte("sealed")}}
	}
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	asManager := kubernetes.NewForConfigOrDie(cfg).CoreV1()

	foreign, err := cs.CoreV1().Secrets(ns).Create(ctx, record(ns), metav1.CreateOptions{})
	must(t, err)
	if err := asManager.Secrets(ns).Delete(ctx, foreign.Name, metav1.DeleteOptions{}); err == nil || !strings.Contains(err.Error(), p.Name) {
		t.Errorf("%s deleted the token record %s/%s outside its namespace: %v", user, ns, foreign.Name, err)
	}
	own, err := cs.CoreV1().Secrets(saNS).Create(ctx, record(saNS), metav1.CreateOptions{})
	must(t, err)
	// RBAC takes effect asynchronously: dry-run until allowed.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = asManager.Secrets(saNS).Delete(ctx, own.Name, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err == nil {
			break
		}
	}
	if err := asManager.Secrets(saNS).Delete(ctx, own.Name, metav1.DeleteOptions{}); err != nil {
		t.Errorf("%s may not delete its own token record %s/%s: %v", user, saNS, own.Name, err)
	}
}
