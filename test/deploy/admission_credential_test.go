package deploy

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// configCredentialPolicy reads config/admission's upstream-credential-binding policy and binding.
func configCredentialPolicy(t *testing.T) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	return configValidating(t, "upstream_credential_policy")
}

// TestChartCredentialPolicyMatchesConfig: the chart and kustomize ship config/admission's
// upstream-credential-binding policy, on by default (admissionPolicy.enabled), bound in every
// namespace; the chart's refusals name the chart's editor role; values-minimal renders none.
func TestChartCredentialPolicyMatchesConfig(t *testing.T) {
	src, srcBinding := configCredentialPolicy(t)
	if src.Name != "upstream-credential-binding" || srcBinding.Spec.PolicyName != src.Name {
		t.Fatalf("config/admission: policy %q, binding binds %q", src.Name, srcBinding.Spec.PolicyName)
	}
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			p, b := renderedPolicyNamed(t, render(t, vc), "-upstream-credential-binding")
			if vc.file == "values-minimal.yaml" {
				if p != nil {
					t.Fatalf("admissionPolicy.enabled=false rendered %s", p.Name)
				}
				return
			}
			if p == nil {
				t.Fatal("the chart renders no credential binding policy by default")
			}
			fullname := strings.TrimSuffix(p.Name, "-upstream-credential-binding")
			want := src.Spec.DeepCopy()
			for i := range want.Validations {
				want.Validations[i].MessageExpression = strings.ReplaceAll(want.Validations[i].MessageExpression,
					"mcpproxy-upstreamserver-editor-role", fullname+"-upstreamserver-editor")
			}
			checkPolicy(t, "chart", p, b, want, srcBinding)
		})
	}
	p, b := renderedPolicyNamed(t, kustomizeDefault(t), "-upstream-credential-binding")
	if p == nil {
		t.Fatal("config/default has no credential binding policy")
	}
	checkPolicy(t, "config/default", p, b, &src.Spec, srcBinding)
}

// TestCredentialPolicyChecksEverySubjectItAdmits: the API server allows a CEL expression two
// authorization checks (and a policy about 28 a request), so the policy checks the subjects a
// request adds (variables.others) one validation each, and refuses more subjects than it has such
// validations. They are one rule, differing in their index only, for indexes 0..cap-1. Variables
// and messages never call the authorizer: the API server evaluates messages without one.
func TestCredentialPolicyChecksEverySubjectItAdmits(t *testing.T) {
	p, _ := configCredentialPolicy(t)
	if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionv1.Fail {
		t.Errorf("failurePolicy %v, want Fail", p.Spec.FailurePolicy)
	}
	for _, v := range p.Spec.Variables {
		if strings.Contains(v.Expression, "authorizer") {
			t.Errorf("variable %s calls the authorizer", v.Name)
		}
	}
	capRE := regexp.MustCompile(`^size\(variables\.others\) <= (\d+)$`)
	indexRE := regexp.MustCompile(`(<= |> |\[)(\d+)`)
	limit, rule := -1, ""
	var indexes []int
	for _, v := range p.Spec.Validations {
		if strings.Contains(v.MessageExpression, "authorizer") {
			t.Errorf("a messageExpression calls the authorizer: %s", v.MessageExpression)
		}
		if m := capRE.FindStringSubmatch(v.Expression); m != nil {
			limit, _ = strconv.Atoi(m[1])
			continue
		}
		if !strings.Contains(v.Expression, "variables.others[") {
			continue
		}
		text := v.Expression + "\n" + v.MessageExpression
		seen := map[string]bool{}
		for _, m := range indexRE.FindAllStringSubmatch(text, -1) {
			seen[m[2]] = true
		}
		if len(seen) != 1 {
			t.Errorf("a per-subject validation uses indexes %v, want one: %s", seen, text)
			continue
		}
		for k := range seen {
			i, _ := strconv.Atoi(k)
			indexes = append(indexes, i)
		}
		r := indexRE.ReplaceAllString(text, "${1}i") + "\n" + v.Message + "\n" + string(ptrOr(v.Reason))
		if rule == "" {
			rule = r
		} else if r != rule {
			t.Errorf("per-subject validation %d differs from the first:\n%s\nwant\n%s", indexes[len(indexes)-1], r, rule)
		}
	}
	if limit < 1 {
		t.Fatal("no validation bounds size(variables.others)")
	}
	if len(indexes) != limit {
		t.Fatalf("%d per-subject validations, and a request may bind %d others", len(indexes), limit)
	}
	for i, got := range indexes {
		if got != i {
			t.Fatalf("per-subject validations check indexes %v, want 0..%d in order", indexes, limit-1)
		}
	}
	// Up to two checks a subject, one for login and two for the owner, within the API server's
	// budget of 10,000,000 a policy (350,000 a check), with room for the rest.
	if checks := 2*limit + 3; checks*350000 > 9_600_000 {
		t.Errorf("%d subjects make up to %d authorization checks, more than the API server's budget allows", limit, checks)
	}
}

func ptrOr(r *metav1.StatusReason) metav1.StatusReason {
	if r == nil {
		return ""
	}
	return *r
}

// TestChartCredentialPolicyIsEnforced installs the chart's rendered credential policy and editor
// role on the API server for real (dry-run requests): peggy, bound to the editor role, binds
// herself but not a ServiceAccount she may not act as; nina, who may create credentials but has
// no login, is told which ClusterRole to ask for.
func TestChartCredentialPolicyIsEnforced(t *testing.T) {
	vc := valuesCases[0]
	objs := render(t, vc)
	p, b := renderedPolicyNamed(t, objs, "-upstream-credential-binding")
	if p == nil {
		t.Fatal("no credential policy rendered")
	}
	editor := convert[rbacv1.ClusterRole](t, named(t, objs, "ClusterRole", vc.name+"-mcpproxy-operator-upstreamserver-editor"))
	editor.Name += "-credentials" // apart from the hand-over test's copy
	ns := "mcp-credential-admission"
	ensureNamespace(t, ns)
	cs := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	credentialsOnly := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "credentials", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"mcp.mcpproxy.dev"}, Resources: []string{"upstreamcredentials"}, Verbs: []string{"create"}}}}
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
	must(t, created(cs.RbacV1().Roles(ns).Create(ctx, credentialsOnly, metav1.CreateOptions{})))
	must(t, created(cs.RbacV1().RoleBindings(ns).Create(ctx, userBinding(ns, "Role", credentialsOnly.Name, "nina"), metav1.CreateOptions{})))
	must(t, created(cs.RbacV1().RoleBindings(ns).Create(ctx, userBinding(ns, "ClusterRole", editor.Name, "peggy"), metav1.CreateOptions{})))

	user := map[string]any{"kind": "User", "name": "nina"}
	// Bindings take effect asynchronously: wait for the first refusal.
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = tryCredential(t, ns, "nina", user); err != nil && strings.Contains(err.Error(), p.Name) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "you need verb login on upstreamservers/linear") ||
		!strings.Contains(err.Error(), strings.TrimSuffix(editor.Name, "-credentials")) {
		t.Fatalf("nina's credential: %v; want a refusal naming verb login and the chart's editor ClusterRole", err)
	}
	if err := tryCredential(t, ns, "peggy", map[string]any{"kind": "User", "name": "peggy"}); err != nil {
		t.Errorf("peggy (the chart's editor role) could not bind herself: %v", err)
	}
	err = tryCredential(t, ns, "peggy", map[string]any{"kind": "ServiceAccount", "name": "agent", "namespace": ns})
	if err == nil || !strings.Contains(err.Error(), "binding serviceaccount "+ns+"/agent needs impersonate on serviceaccounts/agent") {
		t.Errorf("peggy binding a ServiceAccount: %v; want a refusal naming impersonate", err)
	}
}

// tryCredential creates, in dry run and as user, an UpstreamCredential for server linear binding
// subject.
func tryCredential(t *testing.T, ns, user string, subject map[string]any) error {
	t.Helper()
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "mcp.mcpproxy.dev/v1alpha1", "kind": "UpstreamCredential",
		"metadata": map[string]any{"generateName": "linear-", "namespace": ns},
		"spec":     map[string]any{"serverRef": map[string]any{"name": "linear"}, "subjects": []any{subject}},
	}}
	gvr := schema.GroupVersionResource{Group: "mcp.mcpproxy.dev", Version: "v1alpha1", Resource: "upstreamcredentials"}
	_, err := dynamic.NewForConfigOrDie(cfg).Resource(gvr).Namespace(ns).Create(context.Background(), c,
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}
