package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// The banner shows the three commands that let a workload call the gateway, and the sample it
// applies grants exactly that: verb use on the demo server to the demo-agent ServiceAccount.
func TestNextStepsShowTheGatewayCommands(t *testing.T) {
	cfg := config{dir: "/d", binDir: "/nowhere", crdDir: filepath.Join("..", "..", "config", "crd", "bases"),
		oauthPort: 9000, gatewayAddr: "127.0.0.1:18090", tokenTTL: 30 * time.Second}
	var out bytes.Buffer
	printNextSteps(&out, cfg, "/d/kubeconfig", false)
	sample := filepath.Join("..", "..", "config", "samples", "gateway_rbac_demo.yaml")
	for _, want := range []string{
		"      kubectl create serviceaccount demo-agent\n",
		"      kubectl apply -f " + sample + "\n",
		"      kubectl create token demo-agent | /nowhere/mcpproxy probe --token-file - http://127.0.0.1:18090/servers/default/demo/mcp\n",
		"kubectl create role refuses --verb=use",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, out.String())
		}
	}

	b, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%s has %d documents, want a Role and a RoleBinding", sample, len(docs))
	}
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &role); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &binding); err != nil {
		t.Fatal(err)
	}
	rule := rbacv1.PolicyRule{APIGroups: []string{"mcp.mcpproxy.dev"}, Resources: []string{"upstreamservers"},
		ResourceNames: []string{demoName}, Verbs: []string{"use"}}
	if role.Namespace != demoNamespace || len(role.Rules) != 1 || role.Rules[0].String() != rule.String() {
		t.Errorf("the Role grants %+v in %q, want only %+v in %q", role.Rules, role.Namespace, rule, demoNamespace)
	}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: demoAgent, Namespace: demoNamespace}
	if binding.RoleRef.Name != role.Name || binding.RoleRef.Kind != "Role" || len(binding.Subjects) != 1 || binding.Subjects[0] != subject {
		t.Errorf("the RoleBinding binds %+v to %+v, want %s to %+v", binding.RoleRef, binding.Subjects, role.Name, subject)
	}

	out.Reset()
	cfg.gatewayNoAuth = true
	printNextSteps(&out, cfg, "/d/kubeconfig", false)
	if strings.Contains(out.String(), "create token") || !strings.Contains(out.String(), "/nowhere/mcpproxy probe http://127.0.0.1:18090/servers/default/demo/mcp") {
		t.Errorf("with DEV_GATEWAY_NOAUTH the banner should show a probe without a token:\n%s", out.String())
	}
}
