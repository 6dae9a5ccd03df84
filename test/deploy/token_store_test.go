package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// secretsCase renders the chart with the token store on Secrets.
var secretsCase = valuesCase{name: "secrets", namespace: "mcp-secrets", file: "values-secrets.yaml"}

// TestChartSecretsTokenStore: tokenStore.backend: secrets passes the backend and the release
// namespace to the manager, mounts no token volume and renders no claim, and grants Secret
// writes only through a Role in the release namespace whose rules are config/rbac/token_store's
// (generated from internal/secretstore's markers). The default stays bolt, without that Role.
// The objects pass the API server's dry run, the pod the restricted Pod Security Standard.
func TestChartSecretsTokenStore(t *testing.T) {
	runTool(t, tool(t, "HELM", "Helm"), append([]string{"lint", "--strict", chartDir}, secretsCase.helmArgs()...)...)
	objs := render(t, secretsCase)
	dep, c := manager(t, objs)
	for _, want := range []string{"--token-store-backend=secrets", "--token-store-namespace=" + secretsCase.namespace} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--token-store=") }) {
		t.Errorf("args %q still name a bbolt file", c.Args)
	}
	if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--token-encryption-key-file=") }) {
		t.Errorf("args %q do not pass the key file the Secrets are sealed with", c.Args)
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "token-store" {
			t.Errorf("the Deployment still has the token-store volume: %+v", v)
		}
	}
	if n := len(find(objs, "PersistentVolumeClaim")); n != 0 {
		t.Errorf("rendered %d claims for a store that needs none", n)
	}

	name := secretsCase.name + "-mcpproxy-operator-token-store"
	role := convert[rbacv1.Role](t, named(t, objs, "Role", name))
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "token_store", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var src rbacv1.Role
	if err := yaml.UnmarshalStrict(data, &src); err != nil {
		t.Fatal(err)
	}
	if role.Namespace != secretsCase.namespace || !reflect.DeepEqual(role.Rules, src.Rules) {
		t.Errorf("Role %s/%s rules %+v, want config/rbac/token_store's %+v in the release namespace", role.Namespace, role.Name, role.Rules, src.Rules)
	}
	rb := convert[rbacv1.RoleBinding](t, named(t, objs, "RoleBinding", name))
	if rb.Namespace != secretsCase.namespace || rb.RoleRef.Name != name || len(rb.Subjects) != 1 ||
		rb.Subjects[0].Name != dep.Spec.Template.Spec.ServiceAccountName || rb.Subjects[0].Namespace != secretsCase.namespace {
		t.Errorf("RoleBinding %s/%s does not bind the Role to the manager: %+v", rb.Namespace, rb.Name, rb)
	}
	named(t, objs, "ClusterRole", secretsCase.name+"-mcpproxy-operator-manager")
	for _, o := range find(objs, "ClusterRole") {
		if o.GetName() != secretsCase.name+"-mcpproxy-operator-manager" {
			continue // the people's roles (the editor role creates hand-overs)
		}
		for _, r := range convert[rbacv1.ClusterRole](t, o).Rules {
			if slices.Contains(r.Resources, "secrets") && (slices.Contains(r.Verbs, "create") || slices.Contains(r.Verbs, "update")) {
				t.Errorf("ClusterRole %s lets the manager write Secrets cluster-wide: %+v", o.GetName(), r)
			}
		}
	}
	ensureNamespace(t, secretsCase.namespace)
	dryRunApply(t, objs, secretsCase.namespace)
	dryRunPods(t, objs, secretsCase.namespace)

	defaults := render(t, valuesCases[0])
	if _, c := manager(t, defaults); !slices.Contains(c.Args, "--token-store-backend=bolt") {
		t.Errorf("default args %q do not choose bolt", c.Args)
	}
	for _, o := range find(defaults, "Role") {
		if strings.HasSuffix(o.GetName(), "-token-store") {
			t.Errorf("the bolt default renders %s", o.GetName())
		}
	}
}
