package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// credentialsGoneRetry is how often a deleted server looks again for credentials still being
// finalized; their deletion events usually wake it first.
const credentialsGoneRetry = 5 * time.Second

// finalize cleans up a deleted server: its credentials go first (each revokes its own token),
// then close the session, revoke, delete every stored token of the server, and let it go.
func (r *UpstreamServerReconciler) finalize(ctx context.Context, us *mcpv1alpha1.UpstreamServer) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(us, mcpv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("upstreamServer", klog.KObj(us))
	left, err := r.deleteCredentials(ctx, us)
	if err != nil {
		return ctrl.Result{}, err
	}
	if left > 0 {
		log.Info("Waiting for the server's credentials to be deleted", "credentials", left)
		return ctrl.Result{RequeueAfter: credentialsGoneRetry}, nil
	}
	r.Sessions.Close(upstream.SessionKey(us))
	if rec, err := r.Store.Load(upstream.StoreKey(us)); err == nil {
		r.lifecycle().Revoke(ctx, log, rec)
	}
	if _, err := r.Store.DeleteServer(us.Namespace, us.Name); err != nil {
		return ctrl.Result{}, fmt.Errorf("deleting the stored tokens of %s/%s: %w", us.Namespace, us.Name, err)
	}
	r.lifecycle().ForgetServer(us.Namespace, us.Name)
	forgetMetrics(us)
	patch := client.MergeFrom(us.DeepCopy())
	controllerutil.RemoveFinalizer(us, mcpv1alpha1.Finalizer)
	if err := r.Patch(ctx, us, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	log.Info("Cleaned up a deleted server")
	return ctrl.Result{}, nil
}
