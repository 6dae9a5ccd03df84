package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// installAdmission installs the shipped ValidatingAdmissionPolicies and their bindings
// (config/admission), so the demo has the protection a cluster install has: only a user allowed
// to log in to a server may hand a token over for it, and only one who may act as a subject may
// bind it to a credential. The local admin may do both. (The manager-secret-deletes policy names
// the in-cluster ServiceAccount, which make dev does not run as, so it is left out.)
func installAdmission(ctx context.Context, cfg *rest.Config, dir string) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	for _, name := range []string{"handover_policy", "upstream_credential_policy"} {
		var policy admissionv1.ValidatingAdmissionPolicy
		var binding admissionv1.ValidatingAdmissionPolicyBinding
		for file, obj := range map[string]any{name + ".yaml": &policy, name + "_binding.yaml": &binding} {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				return err
			}
			if err := yaml.Unmarshal(b, obj); err != nil {
				return fmt.Errorf("reading %s: %w", file, err)
			}
		}
		for _, o := range []client.Object{&policy, &binding} {
			if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("installing the admission policy %s: %w", policy.Name, err)
			}
		}
	}
	return nil
}
