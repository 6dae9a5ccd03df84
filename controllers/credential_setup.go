package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// SetupWithManager registers the credential controller, its own (one reconcile per credential
// at a time): UpstreamCredentials (spec, annotation and deletion changes, not our own status
// writes), their hand-over Secrets, their servers (a server created, changed or deleted changes
// what each of its credentials can do), and in-process refresh requests for credentials.
// IndexCredentials must have been called.
func (r *UpstreamCredentialReconciler) SetupWithManager(mgr ctrl.Manager, signals *Signals) error {
	r.signals = &signals.credentials
	maxConcurrent := r.MaxConcurrentReconciles
	if maxConcurrent <= 0 {
		maxConcurrent = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&mcpv1alpha1.UpstreamCredential{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionPredicate()))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(handOverToCredential),
			builder.WithPredicates(isCredentialHandOver())).
		Watches(&mcpv1alpha1.UpstreamServer{}, handler.EnqueueRequestsFromMapFunc(r.serverToCredentials),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionPredicate()))).
		WatchesRawSource(signals.credentials.source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Named("upstreamcredential").
		Complete(r)
}

func handOverToCredential(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[mcpv1alpha1.HandOverCredentialLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

func isCredentialHandOver() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, ok := o.GetLabels()[mcpv1alpha1.HandOverCredentialLabel]
		return ok
	})
}

// serverToCredentials enqueues every credential naming the server.
func (r *UpstreamCredentialReconciler) serverToCredentials(ctx context.Context, o client.Object) []reconcile.Request {
	creds, err := credentialsOf(ctx, r.Client, o.GetNamespace(), o.GetName())
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list a server's credentials")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(creds))
	for _, c := range creds {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}})
	}
	return reqs
}
