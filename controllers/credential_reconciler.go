package controllers

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// UpstreamCredentialReconciler owns each UpstreamCredential's token: a person's login to a
// PerSubject server, used through the gateway by the subjects the credential lists. It is the
// same token lifecycle as a server's (internal/lifecycle), attached to a credential, with no
// live MCP session (Config.OneShot): a token is proven by one MCP request when it is handed
// over or refreshed. The work queue runs at most one reconcile per credential at a time, which
// makes Reconcile the only code that spends that credential's refresh token.
type UpstreamCredentialReconciler struct {
	client.Client
	// APIReader reads the credential, its server and the Secrets the server's spec names from
	// the API server (status carries failure memory; a lagging cache would undo it).
	APIReader client.Reader
	Store     TokenStore
	OAuth     OAuthClient
	// Verifier proves a token with one MCP request and keeps nothing (lifecycle.OneShotSessions).
	Verifier lifecycle.Sessions
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// MaxConcurrentReconciles is how many different credentials reconcile in parallel.
	MaxConcurrentReconciles int
	// Shard, when set with a selector, limits the reconciler to the credentials of one shard's
	// servers.
	Shard *Shard

	signals *signalQueue
	once    sync.Once
	runner  *lifecycle.Runner
	// seen lets a reconcile read a credential from the cache when its copy is not older than the last.
	seen lastSeen
}

func (r *UpstreamCredentialReconciler) lifecycle() *lifecycle.Runner {
	r.once.Do(func() {
		r.runner = &lifecycle.Runner{Store: r.Store, OAuth: r.OAuth, Sessions: r.Verifier, Now: r.Clock.Now}
	})
	return r.runner
}

// Reconcile observes the credential and its server, runs the token lifecycle, and patches
// status once.
func (r *UpstreamCredentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	pt := startPass(r.Clock)
	// A pass that failed may have written more than it knows (a patch applied, its answer
	// lost): the next one reads from the API server.
	defer func() {
		if err != nil {
			r.seen.forget(req.NamespacedName)
		}
	}()
	if other, err := r.Shard.othersCredential(ctx, r.Client, req.NamespacedName); err != nil || other {
		if other {
			r.seen.forget(req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	c := &mcpv1alpha1.UpstreamCredential{}
	if err := r.read(ctx, req.NamespacedName, c); err != nil {
		if apierrors.IsNotFound(err) {
			r.seen.forget(req.NamespacedName)
			return ctrl.Result{}, r.deleteOrphanHandOvers(ctx, req)
		}
		return ctrl.Result{}, err
	}
	us, err := r.server(ctx, c)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !r.Shard.ownsCredential(c, us) {
		r.seen.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if !c.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, c, us)
	}
	if err := r.ensureMetadata(ctx, c, us); err != nil {
		return ctrl.Result{}, err
	}

	log := ctrl.LoggerFrom(ctx).WithValues("upstreamCredential", klog.KObj(c))
	orig := c.DeepCopy()
	pctx, cancel := context.WithTimeout(ctx, passTimeout)
	obs := r.observe(pctx, c, us, log)
	pt.mark(phaseRead)
	res := r.lifecycle().Run(pctx, lifecycle.Pass{Facts: obs.facts, Owner: &credentialOwner{r: r, c: c, uids: obs.handOverUIDs}, Log: log})
	cancel()
	applyCredentialStatus(c, obs, res.Status)
	pt.markPass(res)
	if err := r.patchStatus(ctx, orig, c); err != nil {
		return ctrl.Result{}, err
	}
	pt.mark(phasePatch)
	if r.signals != nil && obs.facts.Record != nil {
		r.signals.handled(client.ObjectKeyFromObject(c), obs.facts.Record.Revision)
	}
	r.seen.note(c)
	r.emit(c, append(res.Events, credentialTransitionEvents(orig, c)...))
	pt.mark(phaseEvents)
	pt.observe("upstreamcredential")
	countRefreshes(res)
	return ctrl.Result{RequeueAfter: lifecycle.RequeueAfter(res.WakeAt, r.Clock.Now())}, nil
}

// read reads the credential as fresh as the API server has it (see
// UpstreamServerReconciler.Reconcile), and from the API server itself while a login hand-over
// for it is pending: whom the credential belongs to decides whether that login is taken, and a
// cached copy lagging a subject change or a just-recorded owner must not decide it.
func (r *UpstreamCredentialReconciler) read(ctx context.Context, key types.NamespacedName, c *mcpv1alpha1.UpstreamCredential) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.List(ctx, list, client.InNamespace(key.Namespace), client.MatchingLabelsSelector{Selector: credentialHandOvers(key.Name)}); err != nil || len(list.Items) > 0 {
		return r.APIReader.Get(ctx, key, c)
	}
	_, err := r.seen.read(ctx, r.Client, r.APIReader, key, c)
	return err
}

// server reads the credential's server; nil when there is none. A pass uses only its spec, and
// a change of the spec (or its deletion) enqueues the server's credentials again when the cache
// has it (serverToCredentials), so the cache's copy serves: one API read less per credential
// refresh. One the cache does not hold (yet) is looked up on the API server.
func (r *UpstreamCredentialReconciler) server(ctx context.Context, c *mcpv1alpha1.UpstreamCredential) (*mcpv1alpha1.UpstreamServer, error) {
	us := &mcpv1alpha1.UpstreamServer{}
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.ServerRef.Name}
	err := r.Get(ctx, key, us)
	if err != nil {
		err = r.APIReader.Get(ctx, key, us)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the credential's server: %w", err)
	}
	return us, nil
}

// ensureMetadata adds the finalizer (deletion revokes the token) and an owner reference to the
// server (deleting the server deletes its credentials), in one patch, only when missing.
func (r *UpstreamCredentialReconciler) ensureMetadata(ctx context.Context, c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer) error {
	patch := client.MergeFromWithOptions(c.DeepCopy(), client.MergeFromWithOptimisticLock{})
	changed := controllerutil.AddFinalizer(c, mcpv1alpha1.Finalizer)
	if us != nil && !ownedBy(c, us) {
		// Replaces a reference to an earlier server of the same name.
		if err := controllerutil.SetOwnerReference(us, c, r.Scheme(), controllerutil.WithBlockOwnerDeletion(false)); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	if err := r.Patch(ctx, c, patch); err != nil {
		return fmt.Errorf("adding the finalizer and owner reference: %w", err)
	}
	return nil
}

func ownedBy(c *mcpv1alpha1.UpstreamCredential, us *mcpv1alpha1.UpstreamServer) bool {
	for _, o := range c.OwnerReferences {
		if o.Kind == "UpstreamServer" && o.Name == us.Name && o.UID == us.UID {
			return true
		}
	}
	return false
}

// patchStatus writes status once, and only when it changed.
func (r *UpstreamCredentialReconciler) patchStatus(ctx context.Context, orig, c *mcpv1alpha1.UpstreamCredential) error {
	return patchStatusIfChanged(ctx, r, orig, c, orig.Status, c.Status)
}

// emit sends the pass's events after status is written.
func (r *UpstreamCredentialReconciler) emit(c *mcpv1alpha1.UpstreamCredential, evs []lifecycle.Event) {
	emitEvents(r.Recorder, c, c.Status.LastCorrelationID, evs)
}

// credentialTransitionEvents: a credential starting to need a person says so, with the command.
func credentialTransitionEvents(orig, c *mcpv1alpha1.UpstreamCredential) []lifecycle.Event {
	was := meta.IsStatusConditionTrue(orig.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired)
	if was || !meta.IsStatusConditionTrue(c.Status.Conditions, mcpv1alpha1.ConditionAuthorizationRequired) {
		return nil
	}
	cmd := ""
	if c.Status.Authorization != nil {
		cmd = ": run " + c.Status.Authorization.LoginCommand
	}
	return []lifecycle.Event{{Warning: true, Reason: "AuthorizationRequired", Action: "Authorize", Message: "Authorization required" + cmd}}
}

// credentialLoginCommand is the command that satisfies a credential's AuthorizationRequired: a
// login to its server for its first subject (any subject it lists would do), naming the
// credential unless the CLI finds it by that subject's default name.
func credentialLoginCommand(c *mcpv1alpha1.UpstreamCredential) string {
	if len(c.Spec.Subjects) == 0 {
		return fmt.Sprintf("mcpproxy auth login %s -n %s --credential %s", c.Spec.ServerRef.Name, c.Namespace, c.Name)
	}
	return upstream.LoginCommandFor(c.Namespace, c.Spec.ServerRef.Name, c.Name, c.Spec.Subjects[0])
}
