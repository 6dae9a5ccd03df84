package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
)

// serverOwner is what an UpstreamServer does for its token's lifecycle: the Kubernetes side.
type serverOwner struct {
	r    *UpstreamServerReconciler
	us   *mcpv1alpha1.UpstreamServer
	cfg  lifecycle.Config
	uids map[string]types.UID
}

// DeleteHandOver deletes a hand-over Secret the pass looked at (ingested or rejected), only if
// it is still the Secret that was read.
func (o *serverOwner) DeleteHandOver(ctx context.Context, name string) error {
	uid, ok := o.uids[name]
	if !ok {
		return fmt.Errorf("hand-over %s was not read in this pass", name)
	}
	return deleteSecret(ctx, o.r, o.us.Namespace, name, uid)
}

// deleteSecret deletes Secret ns/name if its UID is still uid. A Secret deleted and created
// again under the same name (of another type, perhaps) is left alone; one already gone is fine.
func deleteSecret(ctx context.Context, c client.Writer, ns, name string, uid types.UID) error {
	sec := &corev1.Secret{}
	sec.Namespace, sec.Name = ns, name
	err := c.Delete(ctx, sec, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
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
		client.MatchingLabelsSelector{Selector: serverHandOvers(req.Name)}); err != nil {
		return fmt.Errorf("listing hand-overs of the missing server %s: %w", req.NamespacedName, err)
	}
	for _, m := range list.Items {
		if err := deleteSecret(ctx, r, m.Namespace, m.Name, m.UID); err != nil {
			return fmt.Errorf("deleting the orphaned hand-over %s/%s: %w", m.Namespace, m.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted a hand-over for a server that does not exist", "secret", m.Name)
	}
	return nil
}
