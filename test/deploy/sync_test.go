package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestChartCopiesMatchConfig checks that the chart's copies of the CRDs, RBAC and admission manifests are
// byte for byte those of config/ (make helm-sync, run by make manifests, refreshes them).
func TestChartCopiesMatchConfig(t *testing.T) {
	crds, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir, "files", "crds", "*.yaml"))
	if len(copies) != len(crds) {
		t.Errorf("the chart has %d CRD files, config/crd/bases %d: run make helm-sync", len(copies), len(crds))
	}
	pairs := map[string]string{}
	for _, c := range crds {
		pairs[c] = filepath.Join(chartDir, "files", "crds", filepath.Base(c))
	}
	for _, f := range []string{"role.yaml", "leader_election_role.yaml", "upstreamserver_user_role.yaml", "upstreamserver_viewer_role.yaml"} {
		pairs[filepath.Join(repoRoot, "config", "rbac", f)] = filepath.Join(chartDir, "files", "rbac", f)
	}
	pairs[filepath.Join(repoRoot, "config", "rbac", "token_store", "role.yaml")] = filepath.Join(chartDir, "files", "rbac", "token_store_role.yaml")
	for _, f := range []string{"handover_policy.yaml", "handover_policy_binding.yaml",
		"upstream_credential_policy.yaml", "upstream_credential_policy_binding.yaml",
		"upstream_credential_creator_policy.yaml", "upstream_credential_creator_policy_binding.yaml",
		"persubject_server_policy.yaml", "persubject_server_policy_binding.yaml"} {
		pairs[filepath.Join(repoRoot, "config", "admission", f)] = filepath.Join(chartDir, "files", "admission", f)
	}
	for src, dst := range pairs {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (%v): run make helm-sync", dst, src, err)
		}
	}
}

// TestChartRBACMatchesKustomize checks the rendered roles grant exactly what config/rbac grants.
func TestChartRBACMatchesKustomize(t *testing.T) {
	objs := render(t, valuesCases[0])
	want := map[string]string{ // rendered name suffix -> config/rbac file
		"-manager":               "role.yaml",
		"-leader-election":       "leader_election_role.yaml",
		"-upstreamserver-editor": "upstreamserver_user_role.yaml",
		"-upstreamserver-viewer": "upstreamserver_viewer_role.yaml",
	}
	seen := 0
	for _, o := range append(find(objs, "ClusterRole"), find(objs, "Role")...) {
		for suffix, file := range want {
			if o.GetName() != "defaults-mcpproxy-operator"+suffix {
				continue
			}
			seen++
			data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", file))
			if err != nil {
				t.Fatal(err)
			}
			var src rbacv1.ClusterRole // Role has the same rules field
			if err := yaml.Unmarshal(data, &src); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			got := convert[rbacv1.ClusterRole](t, o)
			if !reflect.DeepEqual(got.Rules, src.Rules) {
				t.Errorf("%s %s rules differ from config/rbac/%s:\n got %+v\nwant %+v", o.GetKind(), o.GetName(), file, got.Rules, src.Rules)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d roles copied from config/rbac", seen, len(want))
	}
}
