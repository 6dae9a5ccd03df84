package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// credentialServerField indexes UpstreamCredentials by spec.serverRef.name in the cache, so a
// server finds its credentials (to count them, to wake them, to delete them with it) without
// listing every credential of the namespace.
const credentialServerField = "spec.serverRef.name"

// IndexCredentials registers the cache index both reconcilers list credentials by. The wiring
// calls it once, before either controller is set up.
func IndexCredentials(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &mcpv1alpha1.UpstreamCredential{}, credentialServerField,
		func(o client.Object) []string {
			return []string{o.(*mcpv1alpha1.UpstreamCredential).Spec.ServerRef.Name}
		})
}

// credentialsOf lists the credentials naming server ns/name, from the cache.
func credentialsOf(ctx context.Context, c client.Reader, ns, name string) ([]mcpv1alpha1.UpstreamCredential, error) {
	list := &mcpv1alpha1.UpstreamCredentialList{}
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingFields{credentialServerField: name}); err != nil {
		return nil, fmt.Errorf("listing the credentials of %s/%s: %w", ns, name, err)
	}
	return list.Items, nil
}

// credentialState is what a credential adds to its server's counts.
type credentialState struct{ ready, authorizationRequired, failing bool }

func stateOf(c *mcpv1alpha1.UpstreamCredential) credentialState {
	return credentialState{
		ready:                 meta.IsStatusConditionTrue(c.Status.Conditions, mcpv1alpha1.ConditionReady),
		authorizationRequired: meta.IsStatusConditionTrue(c.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired),
		failing:               c.Status.Refresh != nil && c.Status.Refresh.FailedAttempts > 0,
	}
}

// credentialCounts counts a PerSubject server's credentials by state; nil for a Shared server
// (or when they could not be listed: the counts are left out rather than wrong).
func (r *UpstreamServerReconciler) credentialCounts(ctx context.Context, us *mcpv1alpha1.UpstreamServer) *mcpv1alpha1.CredentialCounts {
	if !perSubject(us) {
		return nil
	}
	creds, err := credentialsOf(ctx, r.Client, us.Namespace, us.Name)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to count credentials")
		return us.Status.Credentials
	}
	n := &mcpv1alpha1.CredentialCounts{}
	for i := range creds {
		s := stateOf(&creds[i])
		n.Total++
		n.Ready += count(s.ready)
		n.AuthorizationRequired += count(s.authorizationRequired)
		n.Failing += count(s.failing)
	}
	return n
}

func count(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// credentialToServer enqueues the server a credential names.
func credentialToServer(_ context.Context, o client.Object) []reconcile.Request {
	c, ok := o.(*mcpv1alpha1.UpstreamCredential)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.ServerRef.Name}}}
}

// countsChanged passes the credential events that change its server's counts (or its
// finalizer's wait): a credential appearing, going, or changing state. A routine refresh
// changes a Ready credential's status but not its state, and wakes no server.
func countsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*mcpv1alpha1.UpstreamCredential)
		n, ok2 := e.ObjectNew.(*mcpv1alpha1.UpstreamCredential)
		return !ok1 || !ok2 || stateOf(o) != stateOf(n) || o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	}}
}

// deleteCredentials deletes the credentials of a server being deleted, and reports how many are
// still there. Each credential's own finalizer revokes its token while the server, whose
// binding addresses the token, still exists; garbage collection by the owner reference would
// delete them only after the server is gone, when the token could no longer be found.
func (r *UpstreamServerReconciler) deleteCredentials(ctx context.Context, us *mcpv1alpha1.UpstreamServer) (int, error) {
	creds, err := credentialsOf(ctx, r.Client, us.Namespace, us.Name)
	if err != nil {
		return 0, err
	}
	for i := range creds {
		c := &creds[i]
		if !c.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Delete(ctx, c, client.Preconditions{UID: &c.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return 0, fmt.Errorf("deleting credential %s/%s with its server: %w", c.Namespace, c.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted a credential with its server", "upstreamCredential", c.Name)
	}
	return len(creds), nil
}
