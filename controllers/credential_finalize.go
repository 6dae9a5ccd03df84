package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// finalize cleans up a deleted credential: revoke its token at the authorization server,
// delete every stored binding of it, then let it go. Its server's binding addresses the token;
// a server being deleted waits for its credentials (deleteCredentials), so it is still there.
func (r *UpstreamCredentialReconciler) finalize(ctx context.Context, c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer) error {
	if !controllerutil.ContainsFinalizer(c, mcpv1alpha1.Finalizer) {
		return nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("upstreamCredential", klog.KObj(c))
	if us != nil {
		if rec, err := r.Store.Load(upstream.CredentialStoreKey(us, c)); err == nil {
			r.lifecycle().Revoke(ctx, log, rec)
		}
	} else {
		log.Info("The credential's server is gone: its token cannot be found to revoke it, only deleted")
	}
	name := upstream.CredentialStoreName(c)
	if _, err := r.Store.DeleteServer(c.Namespace, name); err != nil {
		return fmt.Errorf("deleting the stored tokens of credential %s/%s: %w", c.Namespace, c.Name, err)
	}
	r.lifecycle().ForgetServer(c.Namespace, name)
	patch := client.MergeFrom(c.DeepCopy())
	controllerutil.RemoveFinalizer(c, mcpv1alpha1.Finalizer)
	if err := r.Patch(ctx, c, patch); err != nil {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	log.Info("Cleaned up a deleted credential")
	return nil
}

// credentialOwner is what an UpstreamCredential does for its token's lifecycle.
type credentialOwner struct {
	r    *UpstreamCredentialReconciler
	c    *mcpv1alpha1.UpstreamCredential
	uids map[string]types.UID
}

// DeleteHandOver deletes a hand-over the pass read (ingested or rejected), only if it is still
// the Secret that was read.
func (o *credentialOwner) DeleteHandOver(ctx context.Context, name string) error {
	uid, ok := o.uids[name]
	if !ok {
		return fmt.Errorf("hand-over %s was not read in this pass", name)
	}
	return deleteSecret(ctx, o.r, o.c.Namespace, name, uid)
}

// OfferBrowserLogin does nothing: the manager's browser login is for a server's own token;
// a credential's login is its person's, run with `mcpproxy auth login --for`.
func (o *credentialOwner) OfferBrowserLogin() {}

// deleteOrphanHandOvers deletes the hand-overs naming a credential that does not exist: their
// tokens are in plain text, and no reconcile would ever ingest them.
func (r *UpstreamCredentialReconciler) deleteOrphanHandOvers(ctx context.Context, req ctrl.Request) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.List(ctx, list, client.InNamespace(req.Namespace),
		client.MatchingLabelsSelector{Selector: credentialHandOvers(req.Name)}); err != nil {
		return fmt.Errorf("listing hand-overs of the missing credential %s: %w", req.NamespacedName, err)
	}
	for _, m := range list.Items {
		if err := deleteSecret(ctx, r, m.Namespace, m.Name, m.UID); err != nil {
			return fmt.Errorf("deleting the orphaned hand-over %s/%s: %w", m.Namespace, m.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted a hand-over for a credential that does not exist", "secret", m.Name)
	}
	return nil
}
