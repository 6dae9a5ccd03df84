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

// installAdmission installs the shipped admission policies and their bindings
// (config/admission), so the demo has the protection a cluster install has: only a user allowed
// to log in to a server may hand a token over for it, and only one who may act as a subject may
// bind it to a credential. The local admin may do both. (The manager-secret-deletes policy names
// the in-cluster ServiceAccount, which make dev does not run as, so it is left out.)
func installAdmission(ctx context.Context, cfg *rest.Config, dir string) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	var objs []client.Object
	for _, name := range []string{"handover_policy", "upstream_credential_policy", "persubject_server_policy", "upstream_credential_creator_policy"} {
		var policy, binding client.Object = &admissionv1.ValidatingAdmissionPolicy{}, &admissionv1.ValidatingAdmissionPolicyBinding{}
		if name == "upstream_credential_creator_policy" {
			// The API server records who created each UpstreamCredential.
			policy, binding = &admissionv1.MutatingAdmissionPolicy{}, &admissionv1.MutatingAdmissionPolicyBinding{}
		}
		for file, obj := range map[string]client.Object{name + ".yaml": policy, name + "_binding.yaml": binding} {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				return err
			}
			if err := yaml.Unmarshal(b, obj); err != nil {
				return fmt.Errorf("reading %s: %w", file, err)
			}
		}
		objs = append(objs, policy, binding)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("installing the admission policy %s: %w", o.GetName(), err)
		}
	}
	return nil
}
