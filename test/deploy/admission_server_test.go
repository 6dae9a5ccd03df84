package deploy

import (
	"os"
	"path/filepath"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// TestChartServerPolicyMatchesConfig: the chart (with admissionPolicy.enabled) and kustomize
// ship config/admission's persubject-server-deletion policy as it is, bound in every namespace;
// values-minimal renders none.
func TestChartServerPolicyMatchesConfig(t *testing.T) {
	src, srcBinding := &admissionv1.ValidatingAdmissionPolicy{}, &admissionv1.ValidatingAdmissionPolicyBinding{}
	for file, obj := range map[string]any{"persubject_server_policy.yaml": src, "persubject_server_policy_binding.yaml": srcBinding} {
		data, err := os.ReadFile(filepath.Join(repoRoot, "config", "admission", file))
		if err == nil {
			err = yaml.UnmarshalStrict(data, obj)
		}
		if err != nil {
			t.Fatalf("config/admission/%s: %v", file, err)
		}
	}
	if src.Name != "persubject-server-deletion" || srcBinding.Spec.PolicyName != src.Name {
		t.Fatalf("config/admission: policy %q, binding binds %q", src.Name, srcBinding.Spec.PolicyName)
	}
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			p, b := renderedPolicyNamed(t, render(t, vc), "-persubject-server-deletion")
			if vc.file == "values-minimal.yaml" {
				if p != nil {
					t.Fatalf("admissionPolicy.enabled=false rendered %s", p.Name)
				}
				return
			}
			if p == nil {
				t.Fatal("the chart renders no persubject-server-deletion policy by default")
			}
			checkPolicy(t, "chart", p, b, &src.Spec, srcBinding)
		})
	}
	p, b := renderedPolicyNamed(t, kustomizeDefault(t), "-persubject-server-deletion")
	if p == nil {
		t.Fatal("config/default has no persubject-server-deletion policy")
	}
	checkPolicy(t, "config/default", p, b, &src.Spec, srcBinding)
}
