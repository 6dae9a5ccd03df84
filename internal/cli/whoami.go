package cli

import (
	"context"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// whoAmI asks the API server which user this client is, with a SelfSubjectReview (what
// `kubectl auth whoami` does): the kubeconfig alone cannot say (a client certificate, an exec
// plugin or an OIDC token each name the user differently), and the hand-over policy compares the
// created-by annotation with the name the API server authenticated.
func whoAmI(ctx context.Context, c client.Client) (string, error) {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return "", fmt.Errorf("asking the API server who you are (SelfSubjectReview): %s", oauth.Redact(err.Error()))
	}
	if r.Status.UserInfo.Username == "" {
		return "", errors.New("the API server's SelfSubjectReview named no user")
	}
	return r.Status.UserInfo.Username, nil
}

// createdBy is the value of the hand-over's created-by annotation: the current user, or "" with
// a warning when the API server cannot say (a cluster without SelfSubjectReview, before 1.28).
// Such a cluster has no ValidatingAdmissionPolicy either (GA in 1.30), so nothing there requires
// the annotation; where the policy is installed, its refusal says what is missing.
func createdBy(ctx context.Context, env *Env, c client.Client) string {
	user, err := whoAmI(ctx, c)
	if err != nil {
		fmt.Fprintf(env.ErrOut, "Warning: the hand-over will not name you (annotation %s): %v\n", mcpv1alpha1.AnnotationCreatedBy, err)
		return ""
	}
	return user
}
