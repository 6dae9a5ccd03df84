package deploy

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// configPolicy reads config/admission's policy and binding.
func configPolicy(t *testing.T) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	return configValidating(t, "handover_policy")
}

// configValidating reads config/admission's ValidatingAdmissionPolicy NAME.yaml and its binding.
func configValidating(t *testing.T, name string) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	p, b := &admissionv1.ValidatingAdmissionPolicy{}, &admissionv1.ValidatingAdmissionPolicyBinding{}
	configAdmission(t, name, p, b)
	return p, b
}

// configAdmission reads config/admission/NAME.yaml into policy and NAME_binding.yaml into
// binding, strictly.
func configAdmission(t *testing.T, name string, policy, binding any) {
	t.Helper()
	for file, obj := range map[string]any{name + ".yaml": policy, name + "_binding.yaml": binding} {
		data, err := os.ReadFile(filepath.Join(repoRoot, "config", "admission", file))
		if err == nil {
			err = yaml.UnmarshalStrict(data, obj)
		}
		if err != nil {
			t.Fatalf("config/admission/%s: %v", file, err)
		}
	}
}

// renderedPolicy returns the hand-over policy and binding of rendered objects (nil when there
// are none).
func renderedPolicy(t *testing.T, objs []*unstructured.Unstructured) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	return renderedPolicyNamed(t, objs, "-login-handover")
}

// renderedPolicyNamed returns the policy whose name ends in suffix and its binding, of the same
// name (nil when there are none).
func renderedPolicyNamed(t *testing.T, objs []*unstructured.Unstructured, suffix string) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	var ps, bs []*unstructured.Unstructured
	for _, o := range find(objs, "ValidatingAdmissionPolicy") {
		if strings.HasSuffix(o.GetName(), suffix) {
			ps = append(ps, o)
		}
	}
	for _, o := range find(objs, "ValidatingAdmissionPolicyBinding") {
		if strings.HasSuffix(o.GetName(), suffix) {
			bs = append(bs, o)
		}
	}
	if len(ps) != len(bs) || len(ps) > 1 {
		t.Fatalf("rendered %d ValidatingAdmissionPolicies and %d bindings named *%s, want one of each or none", len(ps), len(bs), suffix)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return convert[admissionv1.ValidatingAdmissionPolicy](t, ps[0]), convert[admissionv1.ValidatingAdmissionPolicyBinding](t, bs[0])
}

// TestChartAdmissionPolicyMatchesConfig: the chart and kustomize ship config/admission's policy,
// on by default, bound in every namespace; the chart's message names the chart's editor role;
// admissionPolicy.enabled=false (values-minimal) renders none.
func TestChartAdmissionPolicyMatchesConfig(t *testing.T) {
	src, srcBinding := configPolicy(t)
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			p, b := renderedPolicy(t, render(t, vc))
			if vc.file == "values-minimal.yaml" {
				if p != nil {
					t.Fatalf("admissionPolicy.enabled=false rendered %s", p.Name)
				}
				return
			}
			if p == nil {
				t.Fatal("the chart renders no hand-over policy by default")
			}
			// The refusal names the chart's editor ClusterRole, <fullname>-upstreamserver-editor.
			fullname := strings.TrimSuffix(p.Name, "-login-handover")
			want := src.Spec.DeepCopy()
			for i := range want.Validations {
				want.Validations[i].MessageExpression = strings.ReplaceAll(want.Validations[i].MessageExpression,
					"mcpproxy-upstreamserver-editor-role", fullname+"-upstreamserver-editor")
			}
			checkPolicy(t, "chart", p, b, want, srcBinding)
		})
	}
	p, b := renderedPolicy(t, kustomizeDefault(t))
	if p == nil {
		t.Fatal("config/default has no hand-over policy")
	}
	checkPolicy(t, "config/default", p, b, &src.Spec, srcBinding)
}

func checkPolicy(t *testing.T, what string, p *admissionv1.ValidatingAdmissionPolicy, b *admissionv1.ValidatingAdmissionPolicyBinding,
	want *admissionv1.ValidatingAdmissionPolicySpec, wantBinding *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	if !reflect.DeepEqual(&p.Spec, want) {
		t.Errorf("%s: policy %s differs from config/admission:\n got %+v\nwant %+v", what, p.Name, p.Spec, *want)
	}
	if b.Spec.PolicyName != p.Name {
		t.Errorf("%s: binding %s binds %q, not the policy %q", what, b.Name, b.Spec.PolicyName, p.Name)
	}
	if !reflect.DeepEqual(b.Spec.ValidationActions, wantBinding.Spec.ValidationActions) || b.Spec.MatchResources != nil {
		t.Errorf("%s: binding %s: actions %v, matchResources %+v; want %v in every namespace", what, b.Name,
			b.Spec.ValidationActions, b.Spec.MatchResources, wantBinding.Spec.ValidationActions)
	}
}

// TestChartAdmissionPolicyIsEnforced installs the chart's rendered policy, binding and editor
// role on the API server for real: mallory, who may create Secrets, is refused a hand-over and
// told which role to ask for; trent, bound to the chart's editor role, is admitted (dry run).
func TestChartAdmissionPolicyIsEnforced(t *testing.T) {
	vc := valuesCases[0]
	objs := render(t, vc)
	p, b := renderedPolicy(t, objs)
	if p == nil {
		t.Fatal("no policy rendered")
	}
	editor := convert[rbacv1.ClusterRole](t, named(t, objs, "ClusterRole", vc.name+"-mcpproxy-operator-upstreamserver-editor"))
	ns := "mcp-admission"
	ensureNamespace(t, ns)
	cs := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	secrets := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "secrets", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}}}}
	must(t, created(cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, p, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, p.Name, metav1.DeleteOptions{})
	})
	must(t, created(cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, b, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, b.Name, metav1.DeleteOptions{})
	})
	must(t, created(cs.RbacV1().ClusterRoles().Create(ctx, editor, metav1.CreateOptions{})))
	t.Cleanup(func() { _ = cs.RbacV1().ClusterRoles().Delete(ctx, editor.Name, metav1.DeleteOptions{}) })
	must(t, created(cs.RbacV1().Roles(ns).Create(ctx, secrets, metav1.CreateOptions{})))
	must(t, created(cs.RbacV1().RoleBindings(ns).Create(ctx, userBinding(ns, "Role", secrets.Name, "mallory"), metav1.CreateOptions{})))
	must(t, created(cs.RbacV1().RoleBindings(ns).Create(ctx, userBinding(ns, "ClusterRole", editor.Name, "trent"), metav1.CreateOptions{})))

	// Bindings take effect asynchronously: wait for the first refusal.
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = tryHandOver(t, ns, "mallory"); err != nil && strings.Contains(err.Error(), p.Name) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "you need verb login on upstreamservers/linear") ||
		!strings.Contains(err.Error(), editor.Name) {
		t.Fatalf("mallory's hand-over: %v; want a refusal naming verb login and the ClusterRole %s", err, editor.Name)
	}
	if err := tryHandOver(t, ns, "trent"); err != nil {
		t.Errorf("trent (the chart's editor role) was refused: %v", err)
	}
}

// tryHandOver creates, in dry run and as user, a hand-over for server linear naming user.
func tryHandOver(t *testing.T, ns, user string) error {
	t.Helper()
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "linear-login-", Namespace: ns,
			Labels:      map[string]string{"mcpproxy.dev/upstream-server": "linear"},
			Annotations: map[string]string{"mcpproxy.dev/created-by": user}},
		Type: "mcpproxy.dev/login",
		Data: map[string][]byte{"login.json": []byte(`{"version":1}`)},
	}
	_, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

func userBinding(ns, kind, role, user string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(kind) + "-" + user, Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
}

// named returns the rendered object of a kind and name.
func named(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range find(objs, kind) {
		if o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// created drops what a clientset's Create returns but its error, for must.
func created[T any](_ T, err error) error { return err }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
