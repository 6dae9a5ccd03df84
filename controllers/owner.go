package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// serverOwner is what an UpstreamServer does for its token's lifecycle: the Kubernetes side.
type serverOwner struct {
	r   *UpstreamServerReconciler
	us  *mcpv1alpha1.UpstreamServer
	cfg lifecycle.Config
}

// DeleteHandOver deletes a hand-over Secret the pass looked at (ingested or rejected).
func (o *serverOwner) DeleteHandOver(ctx context.Context, name string) error {
	sec := &corev1.Secret{}
	sec.Namespace, sec.Name = o.us.Namespace, name
	if err := o.r.Delete(ctx, sec); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// OfferBrowserLogin asks the browser-login starter (manager --browser-login) for a login; it
// rate-limits the browser per server and does not block.
func (o *serverOwner) OfferBrowserLogin() {
	if o.r.BrowserLogin != nil {
		o.r.BrowserLogin.RequestLogin(o.us.DeepCopy(), o.cfg.OAuth)
	}
}
