package cli

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// createdBy is the value of the hand-over's created-by annotation: the current user, or "" with
// a warning when the API server cannot say (a cluster without SelfSubjectReview, before 1.28).
// Such a cluster has no ValidatingAdmissionPolicy either (GA in 1.30), so nothing there requires
// the annotation; where the policy is installed, its refusal says what is missing.
func createdBy(ctx context.Context, env *Env, c client.Client) string {
	user, err := upstream.WhoAmI(ctx, c)
	if err != nil {
		fmt.Fprintf(env.ErrOut, "Warning: the hand-over will not name you (annotation %s): %v\n", mcpv1alpha1.AnnotationCreatedBy, err)
		return ""
	}
	return user
}
