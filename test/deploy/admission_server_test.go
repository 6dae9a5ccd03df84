package deploy

import (
	"testing"
)

// TestChartServerPolicyMatchesConfig: the chart (with admissionPolicy.enabled) and kustomize
// ship config/admission's persubject-server-deletion policy as it is, bound in every namespace;
// values-minimal renders none.
func TestChartServerPolicyMatchesConfig(t *testing.T) {
	src, srcBinding := configValidating(t, "persubject_server_policy")
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
