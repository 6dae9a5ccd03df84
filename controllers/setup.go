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
	"sigs.k8s.io/controller-runtime/pkg/source"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// SessionEvents carries "look at this server again" from live sessions (a drop, a 401) and from
// the gateway into the work queue, so the reconciler stays the only one that acts on them.
type SessionEvents chan event.TypedGenericEvent[*mcpv1alpha1.UpstreamServer]

// Notify enqueues a reconcile of the server key ("namespace/name") without blocking the caller.
func (c SessionEvents) Notify(key string) {
	nn := splitKey(key)
	obj := &mcpv1alpha1.UpstreamServer{}
	obj.Namespace, obj.Name = nn.Namespace, nn.Name
	go func() { c <- event.TypedGenericEvent[*mcpv1alpha1.UpstreamServer]{Object: obj} }()
}

// SetupWithManager registers the controller: UpstreamServers (spec, annotation and deletion
// changes, not our own status writes), their hand-over Secrets, and session events.
func (r *UpstreamServerReconciler) SetupWithManager(mgr ctrl.Manager, sessionEvents SessionEvents) error {
	maxConcurrent := r.MaxConcurrentReconciles
	if maxConcurrent <= 0 {
		maxConcurrent = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&mcpv1alpha1.UpstreamServer{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionPredicate()))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(handOverToServer),
			builder.WithPredicates(isHandOver())).
		WatchesRawSource(source.Channel(sessionEvents, &handler.TypedEnqueueRequestForObject[*mcpv1alpha1.UpstreamServer]{})).
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

func isHandOver() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		_, ok := o.GetLabels()[mcpv1alpha1.HandOverServerLabel]
		return ok
	})
}

func deletionPredicate() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

func splitKey(key string) types.NamespacedName {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return types.NamespacedName{Namespace: key[:i], Name: key[i+1:]}
		}
	}
	return types.NamespacedName{Name: key}
}
