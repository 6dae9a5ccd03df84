package deploy

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// configCreatorPolicy reads config/admission's upstream-credential-creator policy and binding.
func configCreatorPolicy(t *testing.T) (*admissionv1.MutatingAdmissionPolicy, *admissionv1.MutatingAdmissionPolicyBinding) {
	t.Helper()
	p, b := &admissionv1.MutatingAdmissionPolicy{}, &admissionv1.MutatingAdmissionPolicyBinding{}
	configAdmission(t, "upstream_credential_creator_policy", p, b)
	return p, b
}

// renderedCreatorPolicy is the one MutatingAdmissionPolicy (and binding) named *suffix in objs,
// or nils when there is none.
func renderedCreatorPolicy(t *testing.T, objs []*unstructured.Unstructured) (*admissionv1.MutatingAdmissionPolicy, *admissionv1.MutatingAdmissionPolicyBinding) {
	t.Helper()
	ps, bs := find(objs, "MutatingAdmissionPolicy"), find(objs, "MutatingAdmissionPolicyBinding")
	if len(ps) != len(bs) || len(ps) > 1 {
		t.Fatalf("rendered %d MutatingAdmissionPolicies and %d bindings, want one of each or none", len(ps), len(bs))
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return convert[admissionv1.MutatingAdmissionPolicy](t, ps[0]), convert[admissionv1.MutatingAdmissionPolicyBinding](t, bs[0])
}

// TestChartCreatorPolicyMatchesConfig: the chart and kustomize ship config/admission's
// upstream-credential-creator policy, on with admissionPolicy.enabled, bound in every namespace;
// values-minimal renders none.
func TestChartCreatorPolicyMatchesConfig(t *testing.T) {
	src, srcBinding := configCreatorPolicy(t)
	if src.Name != "upstream-credential-creator" || srcBinding.Spec.PolicyName != src.Name {
		t.Fatalf("config/admission: policy %q, binding binds %q", src.Name, srcBinding.Spec.PolicyName)
	}
	check := func(what string, p *admissionv1.MutatingAdmissionPolicy, b *admissionv1.MutatingAdmissionPolicyBinding) {
		t.Helper()
		switch {
		case p == nil:
			t.Fatalf("%s: no creator policy", what)
		case !strings.HasSuffix(p.Name, "upstream-credential-creator"):
			t.Errorf("%s: policy named %s", what, p.Name)
		case !reflect.DeepEqual(p.Spec, src.Spec):
			t.Errorf("%s: policy %s differs from config/admission:\n got %+v\nwant %+v", what, p.Name, p.Spec, src.Spec)
		case b.Spec.PolicyName != p.Name || b.Spec.MatchResources != nil || b.Spec.ParamRef != nil:
			t.Errorf("%s: binding %s binds %q (matchResources %+v), want %q in every namespace", what, b.Name, b.Spec.PolicyName, b.Spec.MatchResources, p.Name)
		}
	}
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			p, b := renderedCreatorPolicy(t, render(t, vc))
			if vc.file == "values-minimal.yaml" {
				if p != nil {
					t.Fatalf("admissionPolicy.enabled=false rendered %s", p.Name)
				}
				return
			}
			check("chart", p, b)
		})
	}
	p, b := renderedCreatorPolicy(t, kustomizeDefault(t))
	check("config/default", p, b)
}

// TestChartCreatorPolicyIsEnforced installs the chart's rendered creator policy on the API
// server for real: a credential peggy creates names her in mcpproxy.dev/created-by, also when
// her request named mallory there, and one without the annotation gets it. (Dry runs: admission
// mutates them as it would a stored object.)
func TestChartCreatorPolicyIsEnforced(t *testing.T) {
	p, b := renderedCreatorPolicy(t, render(t, valuesCases[0]))
	if p == nil {
		t.Fatal("no creator policy rendered")
	}
	ns := "mcp-credential-creator"
	ensureNamespace(t, ns)
	cs := kubernetes.NewForConfigOrDie(restCfg)
	ctx := context.Background()
	must(t, created(cs.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, p, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().MutatingAdmissionPolicies().Delete(ctx, p.Name, metav1.DeleteOptions{})
	})
	must(t, created(cs.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, b, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Delete(ctx, b.Name, metav1.DeleteOptions{})
	})

	createdBy := func(claimed string) (string, error) {
		cfg := rest.CopyConfig(restCfg)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "peggy", Groups: []string{"system:masters"}}
		c := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "mcp.mcpproxy.dev/v1alpha1", "kind": "UpstreamCredential",
			"metadata": map[string]any{"generateName": "linear-", "namespace": ns},
			"spec": map[string]any{"serverRef": map[string]any{"name": "linear"},
				"subjects": []any{map[string]any{"kind": "User", "name": "peggy"}}},
		}}
		if claimed != "" {
			c.SetAnnotations(map[string]string{"mcpproxy.dev/created-by": claimed})
		}
		gvr := schema.GroupVersionResource{Group: "mcp.mcpproxy.dev", Version: "v1alpha1", Resource: "upstreamcredentials"}
		got, err := dynamic.NewForConfigOrDie(cfg).Resource(gvr).Namespace(ns).Create(ctx, c, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return "", err
		}
		return got.GetAnnotations()["mcpproxy.dev/created-by"], nil
	}
	// Bindings take effect asynchronously, and the policy resolves the CRD's schema once the API
	// server has published it: wait for the first mutation.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := createdBy("")
		if got == "peggy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the creator policy never wrote mcpproxy.dev/created-by (%q, %v)", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := createdBy("mallory"); err != nil || got != "peggy" {
		t.Errorf("peggy's credential claiming mallory was stored as created by %q (%v), want peggy", got, err)
	}
}
