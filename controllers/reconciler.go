package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// passTimeout bounds one pass of the lifecycle: discovery (itself bounded), a connect (30s) and
// the Kubernetes reads around them.
const passTimeout = 60 * time.Second

// UpstreamServerReconciler owns each UpstreamServer's token and MCP session. The work queue runs
// at most one reconcile per server at a time, which makes Reconcile the single writer of that
// server's token: the only code that ever spends its refresh token.
//
// A reconcile is the token lifecycle (internal/lifecycle) attached to an UpstreamServer:
// observe reads the server, its Secrets and the store; the lifecycle plans and acts; the
// status it computes is written in one patch.
type UpstreamServerReconciler struct {
	client.Client
	// APIReader reads the server and the Secrets named by its spec (client secrets, header
	// values) from the API server, without caching every Secret of the cluster.
	APIReader client.Reader
	Store     TokenStore
	OAuth     OAuthClient
	Sessions  *mcpconn.Pool
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// MaxConcurrentReconciles is how many different servers reconcile in parallel.
	MaxConcurrentReconciles int
	// Shard, when set with a selector, limits the reconciler to one shard's servers.
	Shard *Shard
	// BrowserLogin, when set (manager --browser-login, for local runs), is asked to start a
	// browser login whenever a server needs one. It must not block.
	BrowserLogin LoginStarter

	// signals carries in-process requests (session drops, gateway refresh requests).
	signals *Signals
	// seen lets a reconcile read a server from the cache when its copy is not older than the last.
	seen   lastSeen
	once   sync.Once
	runner *lifecycle.Runner
}

func (r *UpstreamServerReconciler) lifecycle() *lifecycle.Runner {
	r.once.Do(func() {
		r.runner = &lifecycle.Runner{Store: r.Store, OAuth: r.OAuth, Sessions: r.Sessions, Now: r.Clock.Now}
	})
	return r.runner
}

// Reconcile observes the server, runs the token lifecycle, and patches status once.
func (r *UpstreamServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	pt := startPass(r.Clock)
	// A pass that failed may have written more than it knows (a patch applied, its answer
	// lost): the next one reads from the API server.
	defer func() {
		if err != nil {
			r.seen.forget(req.NamespacedName)
		}
	}()
	if other, err := r.Shard.othersServer(ctx, req.NamespacedName); err != nil || other {
		if other {
			r.leaveToOtherShard(req)
		}
		return ctrl.Result{}, err
	}
	us := &mcpv1alpha1.UpstreamServer{}
	// As fresh as the API server has it: status carries failure memory and handled requests,
	// and a cache that lags behind our own last patch would make this reconcile decide on
	// stale facts (and write them back). The cache's copy serves when it is not older than the
	// one the last reconcile left (lastSeen); otherwise it is read from the API server.
	if _, err := r.seen.read(ctx, r.Client, r.APIReader, req.NamespacedName, us); err != nil {
		if apierrors.IsNotFound(err) {
			r.seen.forget(req.NamespacedName)
			r.Sessions.Close(req.String())
			return ctrl.Result{}, r.deleteOrphanHandOvers(ctx, req)
		}
		return ctrl.Result{}, err
	}
	if !r.Shard.ownsServer(us) {
		r.leaveToOtherShard(req)
		return ctrl.Result{}, nil
	}
	if !us.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, us)
	}
	if !controllerutil.ContainsFinalizer(us, mcpv1alpha1.Finalizer) {
		patch := client.MergeFrom(us.DeepCopy())
		controllerutil.AddFinalizer(us, mcpv1alpha1.Finalizer)
		if err := r.Patch(ctx, us, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	log := ctrl.LoggerFrom(ctx).WithValues("upstreamServer", klog.KObj(us))
	orig := us.DeepCopy()
	// A deadline for the pass, so a server that answers slowly holds a worker for a bounded
	// time; a refresh already sent is seen through (lifecycle.RefreshTimeout) and the status
	// patch below runs on the reconcile's own context.
	pctx, cancel := context.WithTimeout(ctx, passTimeout)
	obs := r.observe(pctx, us, log)
	pt.mark(phaseRead)
	res := r.lifecycle().Run(pctx, lifecycle.Pass{Facts: obs.facts, Owner: &serverOwner{r: r, us: us, cfg: obs.facts.Config, uids: obs.handOverUIDs}, Log: log})
	cancel()
	applyStatus(us, obs, res.Status)
	pt.markPass(res)
	us.Status.Credentials = r.credentialCounts(ctx, us)
	pt.mark(phaseCounts)
	if err := r.patchStatus(ctx, orig, us); err != nil {
		return ctrl.Result{}, err
	}
	pt.mark(phasePatch)
	if r.signals != nil && obs.facts.Record != nil {
		r.signals.handled(upstream.Name(us), obs.facts.Record.Revision)
	}
	r.seen.note(us) // the patch, when there was one, returned the new resourceVersion
	r.emit(us, append(res.Events, transitionEvents(orig, us)...))
	pt.mark(phaseEvents)
	pt.observe("upstreamserver")
	r.observeMetrics(us, res)
	// Measured from now, when the reconcile returns, so no wake-up is late by the pass's length.
	return ctrl.Result{RequeueAfter: lifecycle.RequeueAfter(res.WakeAt, r.Clock.Now())}, nil
}

// leaveToOtherShard lets go of a server another shard reconciles (it may have been relabelled
// away from this one): its session closes, and its token record is left to the other shard.
func (r *UpstreamServerReconciler) leaveToOtherShard(req ctrl.Request) {
	r.seen.forget(req.NamespacedName)
	r.Sessions.Close(req.String())
}

// patchStatus writes status once, and only when it changed.
func (r *UpstreamServerReconciler) patchStatus(ctx context.Context, orig, us *mcpv1alpha1.UpstreamServer) error {
	return patchStatusIfChanged(ctx, r, orig, us, orig.Status, us.Status)
}

// emit sends the pass's events after status is written.
func (r *UpstreamServerReconciler) emit(us *mcpv1alpha1.UpstreamServer, evs []lifecycle.Event) {
	emitEvents(r.Recorder, us, us.Status.LastCorrelationID, evs)
}

// transitionEvents turns condition changes into events.
func transitionEvents(orig, us *mcpv1alpha1.UpstreamServer) []lifecycle.Event {
	var evs []lifecycle.Event
	if !upstream.IsTrue(orig, mcpv1alpha1.ConditionAuthorizationRequired) && upstream.IsTrue(us, mcpv1alpha1.ConditionAuthorizationRequired) {
		cmd := ""
		if us.Status.Authorization != nil {
			cmd = ": run " + us.Status.Authorization.LoginCommand
		}
		evs = append(evs, lifecycle.Event{Warning: true, Reason: "AuthorizationRequired", Action: "Authorize",
			Message: fmt.Sprintf("Authorization required (%s)%s", upstream.ConditionReason(us, mcpv1alpha1.ConditionAuthorizationRequired), cmd)})
	}
	wasConnected, connected := upstream.IsTrue(orig, mcpv1alpha1.ConditionConnected), upstream.IsTrue(us, mcpv1alpha1.ConditionConnected)
	switch {
	case !wasConnected && connected:
		evs = append(evs, lifecycle.Event{Reason: "Connected", Action: "Connect", Message: "Connected to " + oauth.RedactURL(us.Spec.URL)})
	case wasConnected && !connected:
		evs = append(evs, lifecycle.Event{Warning: true, Reason: "Disconnected", Action: "Connect", Message: fmt.Sprintf(
			"Disconnected from %s: %s", oauth.RedactURL(us.Spec.URL), upstream.ConditionReason(us, mcpv1alpha1.ConditionConnected))})
	}
	return evs
}

// LoginCommand is the command that satisfies a server's AuthorizationRequired.
func LoginCommand(us *mcpv1alpha1.UpstreamServer) string {
	return fmt.Sprintf("mcpproxy auth login %s -n %s", us.Name, us.Namespace)
}
