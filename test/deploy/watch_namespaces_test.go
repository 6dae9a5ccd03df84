package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// scopedCase renders the chart with watchNamespaces: team-a and team-b.
var scopedCase = valuesCase{name: "scoped", namespace: "mcp-scoped", file: "values-namespaces.yaml"}

// ruleKey is a canonical form of a rule, for comparing rule sets.
func ruleKey(r rbacv1.PolicyRule) string {
	return fmt.Sprintf("%v|%v|%v|%v|%v", r.APIGroups, r.Resources, r.ResourceNames, r.Verbs, r.NonResourceURLs)
}

func ruleKeys(rules []rbacv1.PolicyRule) []string {
	keys := make([]string, 0, len(rules))
	for _, r := range rules {
		keys = append(keys, ruleKey(r))
	}
	slices.Sort(keys)
	return keys
}

// grantsSecrets says whether a rule grants anything on core Secrets.
func grantsSecrets(r rbacv1.PolicyRule) bool {
	return (slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")) &&
		(slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*"))
}

// TestChartWatchNamespacesNarrowsSecrets: with watchNamespaces, the manager is passed
// --namespaces, no ClusterRole bound to it grants Secrets, and a Role in each watched namespace grants
// exactly config/rbac's Secret rules; with the ClusterRole's they are exactly config/rbac's
// rules. On the API server, its ServiceAccount may then read and delete Secrets in the watched
// namespaces only.
func TestChartWatchNamespacesNarrowsSecrets(t *testing.T) {
	watched := []string{"team-a", "team-b"}
	helm := tool(t, "HELM", "Helm")
	runTool(t, helm, append([]string{"lint", "--strict", chartDir}, scopedCase.helmArgs()...)...)
	objs := render(t, scopedCase)
	_, c := manager(t, objs)
	if got := flagValue(c.Args, "--namespaces"); got != strings.Join(watched, ",") {
		t.Errorf("--namespaces=%q, want %q", got, strings.Join(watched, ","))
	}

	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var src rbacv1.ClusterRole
	if err := yaml.Unmarshal(data, &src); err != nil {
		t.Fatal(err)
	}
	var srcSecrets []rbacv1.PolicyRule
	for _, r := range src.Rules {
		if grantsSecrets(r) {
			srcSecrets = append(srcSecrets, r)
		}
	}
	if len(srcSecrets) == 0 {
		t.Fatal("config/rbac/role.yaml grants nothing on Secrets: this test checks nothing")
	}
	user := managerUser(t, objs)
	saNS, saName := saOf(t, user)
	// No ClusterRole bound to the manager grants Secrets (the unbound editor role is for people).
	for _, o := range find(objs, "ClusterRoleBinding") {
		crb := convert[rbacv1.ClusterRoleBinding](t, o)
		if !slices.ContainsFunc(crb.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == saName && s.Namespace == saNS
		}) {
			continue
		}
		for _, r := range convert[rbacv1.ClusterRole](t, named(t, objs, "ClusterRole", crb.RoleRef.Name)).Rules {
			if grantsSecrets(r) {
				t.Errorf("ClusterRole %s, bound to the manager, grants Secrets cluster-wide although watchNamespaces is set: %+v", crb.RoleRef.Name, r)
			}
		}
	}
	fullname := scopedCase.name + "-mcpproxy-operator"
	cluster := convert[rbacv1.ClusterRole](t, named(t, objs, "ClusterRole", fullname+"-manager"))
	for _, ns := range watched {
		role := namespacedRole(t, objs, ns, fullname+"-manager-secrets")
		if !reflect.DeepEqual(ruleKeys(role.Rules), ruleKeys(srcSecrets)) {
			t.Errorf("Role %s/%s grants %v, want config/rbac's Secret rules %v", ns, role.Name, role.Rules, srcSecrets)
		}
		if got := ruleKeys(append(slices.Clone(cluster.Rules), role.Rules...)); !reflect.DeepEqual(got, ruleKeys(src.Rules)) {
			t.Errorf("ClusterRole and Role in %s together grant\n %v\nwant config/rbac/role.yaml's\n %v", ns, got, ruleKeys(src.Rules))
		}
		rb := namespacedRoleBinding(t, objs, ns, role.Name)
		if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || len(rb.Subjects) != 1 ||
			rb.Subjects[0].Kind != rbacv1.ServiceAccountKind || rb.Subjects[0].Name != saName || rb.Subjects[0].Namespace != saNS {
			t.Errorf("RoleBinding %s/%s does not bind %s to %s: %+v", ns, rb.Name, role.Name, user, rb)
		}
	}

	// The API server accepts every object, and authorizes exactly that.
	for _, ns := range append([]string{scopedCase.namespace, "team-c"}, watched...) {
		ensureNamespace(t, ns)
	}
	dryRunApply(t, objs, scopedCase.namespace)
	installRBAC(t, objs)
	allowed := func(ns, verb, resource string) bool {
		t.Helper()
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:               user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + saNS, "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource, Group: groupOf(resource)},
		}}
		res, err := kubernetes.NewForConfigOrDie(restCfg).AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Status.Allowed
	}
	// RBAC's authorizer learns of new roles asynchronously.
	for deadline := time.Now().Add(30 * time.Second); !allowed("team-a", "get", "secrets") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	for _, ns := range watched {
		for _, verb := range []string{"get", "list", "watch", "delete"} {
			if !allowed(ns, verb, "secrets") {
				t.Errorf("the manager may not %s Secrets in the watched namespace %s", verb, ns)
			}
		}
	}
	for _, verb := range []string{"get", "list", "watch", "delete"} {
		if allowed("team-c", verb, "secrets") {
			t.Errorf("the manager may %s Secrets in team-c, which it does not watch", verb)
		}
		if allowed("", verb, "secrets") {
			t.Errorf("the manager may %s Secrets cluster-wide", verb)
		}
	}
	if !allowed("", "list", "upstreamservers") {
		t.Error("the manager lost its cluster-wide rules (list upstreamservers)")
	}
}

func groupOf(resource string) string {
	if resource == "upstreamservers" {
		return "mcp.mcpproxy.dev"
	}
	return ""
}

func namespacedRole(t *testing.T, objs []*unstructured.Unstructured, ns, name string) *rbacv1.Role {
	t.Helper()
	for _, o := range find(objs, "Role") {
		if o.GetNamespace() == ns && o.GetName() == name {
			return convert[rbacv1.Role](t, o)
		}
	}
	t.Fatalf("no Role %s/%s rendered", ns, name)
	return nil
}

func namespacedRoleBinding(t *testing.T, objs []*unstructured.Unstructured, ns, name string) *rbacv1.RoleBinding {
	t.Helper()
	for _, o := range find(objs, "RoleBinding") {
		if o.GetNamespace() == ns && o.GetName() == name {
			return convert[rbacv1.RoleBinding](t, o)
		}
	}
	t.Fatalf("no RoleBinding %s/%s rendered", ns, name)
	return nil
}

// installRBAC creates the rendered ClusterRoles, Roles and their bindings for real, removed when
// the test ends.
func installRBAC(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	rb := kubernetes.NewForConfigOrDie(restCfg).RbacV1()
	for _, o := range objs {
		var err error
		switch o.GetKind() {
		case "ClusterRole":
			r := convert[rbacv1.ClusterRole](t, o)
			_, err = rb.ClusterRoles().Create(ctx, r, metav1.CreateOptions{})
			t.Cleanup(func() { _ = rb.ClusterRoles().Delete(ctx, r.Name, metav1.DeleteOptions{}) })
		case "ClusterRoleBinding":
			r := convert[rbacv1.ClusterRoleBinding](t, o)
			_, err = rb.ClusterRoleBindings().Create(ctx, r, metav1.CreateOptions{})
			t.Cleanup(func() { _ = rb.ClusterRoleBindings().Delete(ctx, r.Name, metav1.DeleteOptions{}) })
		case "Role":
			r := convert[rbacv1.Role](t, o)
			_, err = rb.Roles(r.Namespace).Create(ctx, r, metav1.CreateOptions{})
			t.Cleanup(func() { _ = rb.Roles(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}) })
		case "RoleBinding":
			r := convert[rbacv1.RoleBinding](t, o)
			_, err = rb.RoleBindings(r.Namespace).Create(ctx, r, metav1.CreateOptions{})
			t.Cleanup(func() { _ = rb.RoleBindings(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}) })
		}
		if err != nil {
			t.Fatalf("creating %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}
