package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// deleteOrphanHandOvers deletes the hand-overs naming a server that does not exist: their
// tokens are in plain text, and no reconcile would ever ingest them. Their watch is what
// enqueued this request.
func (r *UpstreamServerReconciler) deleteOrphanHandOvers(ctx context.Context, req ctrl.Request) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.List(ctx, list, client.InNamespace(req.Namespace),
		client.MatchingLabels{mcpv1alpha1.HandOverServerLabel: req.Name}); err != nil {
		return fmt.Errorf("listing hand-overs of the missing server %s: %w", req.NamespacedName, err)
	}
	for _, m := range list.Items {
		sec := &corev1.Secret{}
		sec.Namespace, sec.Name = m.Namespace, m.Name
		if err := r.Delete(ctx, sec); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the orphaned hand-over %s/%s: %w", m.Namespace, m.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted a hand-over for a server that does not exist", "secret", m.Name)
	}
	return nil
}
