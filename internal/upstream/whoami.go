package upstream

import (
	"context"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
)

// WhoAmI asks the API server which user c is, with a SelfSubjectReview (what `kubectl auth
// whoami` does): a kubeconfig alone cannot say (a client certificate, an exec plugin or an
// OIDC token each name the user differently), and the hand-over admission policy compares the
// created-by annotation with the name the API server authenticated.
func WhoAmI(ctx context.Context, c client.Client) (string, error) {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return "", fmt.Errorf("asking the API server who you are (SelfSubjectReview): %s", oauth.Redact(err.Error()))
	}
	if r.Status.UserInfo.Username == "" {
		return "", errors.New("the API server's SelfSubjectReview named no user")
	}
	return r.Status.UserInfo.Username, nil
}
