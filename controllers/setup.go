package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// SetupWithManager registers the controller: UpstreamServers (spec, annotation and deletion
// changes, not our own status writes), their hand-over Secrets, their credentials (for the
// counts, and for a deleted server waiting on them), and in-process signals. IndexCredentials
// must have been called.
func (r *UpstreamServerReconciler) SetupWithManager(mgr ctrl.Manager, signals *Signals) error {
	r.signals = signals
	maxConcurrent := r.MaxConcurrentReconciles
	if maxConcurrent <= 0 {
		maxConcurrent = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&mcpv1alpha1.UpstreamServer{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionPredicate()))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(handOverToServer),
			builder.WithPredicates(isHandOver())).
		Watches(&mcpv1alpha1.UpstreamCredential{}, handler.EnqueueRequestsFromMapFunc(credentialToServer),
			builder.WithPredicates(countsChanged())).
		WatchesRawSource(signals.source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Named("upstreamserver").
		Complete(r)
}

func handOverToServer(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[mcpv1alpha1.HandOverServerLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// isHandOver passes hand-overs for a server's shared token; a credential's (which names its
// server too) wakes its credential instead.
func isHandOver() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, server := o.GetLabels()[mcpv1alpha1.HandOverServerLabel]
		_, credential := o.GetLabels()[mcpv1alpha1.HandOverCredentialLabel]
		return server && !credential
	})
}

func deletionPredicate() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}
