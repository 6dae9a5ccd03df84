package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// UpstreamServerReconciler owns each UpstreamServer's token and MCP session. The work queue runs
// at most one reconcile per server at a time, which makes Reconcile the single writer of that
// server's token: the only code that ever spends its refresh token.
type UpstreamServerReconciler struct {
	client.Client
	// APIReader reads Secrets named by the spec (client secrets, header values) without caching
	// every Secret of the cluster.
	APIReader client.Reader
	Store     TokenStore
	OAuth     OAuthClient
	Sessions  *mcpconn.Pool
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// MaxConcurrentReconciles is how many different servers reconcile in parallel.
	MaxConcurrentReconciles int
	// BrowserLogin, when set (manager --browser-login, for local runs), is asked to start a
	// browser login whenever a server needs one. It must not block.
	BrowserLogin LoginStarter

	// unsaved holds refreshed tokens whose save failed, so a rotated refresh token is not lost
	// when the store hiccups; the next reconcile saves it first.
	unsavedMu sync.Mutex
	unsaved   map[tokenstore.Key]unsavedRecord
	// signals carries in-process requests (session drops, gateway refresh requests).
	signals *Signals
}

// serverState is what one reconcile carries from gather to record.
type serverState struct {
	us     *mcpv1alpha1.UpstreamServer
	key    tokenstore.Key
	record *tokenstore.Record
	now    time.Time
	log    logr.Logger
	// wakeAt is the earliest time the reconcile asked to be called again; zero for never.
	wakeAt time.Time
	events []pendingEvent
	// refreshed is true once this reconcile spent the refresh token (never twice).
	refreshed bool
	// refreshFailed is true when that refresh failed; refreshFailed recorded the outcome.
	refreshFailed bool
	// forced is true when a person asked for this refresh (mcpproxy.dev/refresh-requested-at).
	forced bool
}

type pendingEvent struct {
	warning             bool
	reason, action, msg string
}

func (s *serverState) wake(t time.Time) {
	if s.wakeAt.IsZero() || t.Before(s.wakeAt) {
		s.wakeAt = t
	}
}

func (s *serverState) event(warning bool, reason, action, format string, args ...any) {
	s.events = append(s.events, pendingEvent{warning: warning, reason: reason, action: action, msg: fmt.Sprintf(format, args...)})
}

func (s *serverState) metaNow() metav1.Time { return metav1.NewTime(s.now) }

// Reconcile gathers the server, its token and hand-overs, decides, acts, and patches status once.
func (r *UpstreamServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	us := &mcpv1alpha1.UpstreamServer{}
	// Read from the API server, not the cache: status carries failure memory and handled
	// requests, and a cache that lags behind our own last patch would make this reconcile
	// decide on stale facts (and write them back).
	if err := r.APIReader.Get(ctx, req.NamespacedName, us); err != nil {
		if apierrors.IsNotFound(err) {
			r.Sessions.Close(req.String())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !us.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, us)
	}
	if !controllerutil.ContainsFinalizer(us, mcpv1alpha1.Finalizer) {
		patch := client.MergeFrom(us.DeepCopy())
		controllerutil.AddFinalizer(us, mcpv1alpha1.Finalizer)
		if err := r.Patch(ctx, us, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	orig := us.DeepCopy()
	st := &serverState{us: us, key: StoreKey(us), now: r.Clock.Now(), log: log.WithValues("upstreamServer", klog.KObj(us))}
	r.reconcileServer(ctx, st)

	now := st.metaNow()
	setReady(us, now)
	us.Status.ObservedGeneration = us.Generation
	if err := r.patchStatus(ctx, orig, us); err != nil {
		return ctrl.Result{}, err
	}
	r.recordTransitions(orig, us, st)
	r.emit(us, st)
	r.observe(us, st)
	return st.result(), nil
}

func (s *serverState) result() ctrl.Result {
	if s.wakeAt.IsZero() {
		return ctrl.Result{}
	}
	d := s.wakeAt.Sub(s.now)
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return ctrl.Result{RequeueAfter: d}
}

// patchStatus writes status once, and only when it changed.
func (r *UpstreamServerReconciler) patchStatus(ctx context.Context, orig, us *mcpv1alpha1.UpstreamServer) error {
	if equality.Semantic.DeepEqual(orig.Status, us.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, us, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	statusPatches.Inc()
	return nil
}

// emit sends the events collected during the reconcile, after status is written.
func (r *UpstreamServerReconciler) emit(us *mcpv1alpha1.UpstreamServer, st *serverState) {
	if r.Recorder == nil {
		return
	}
	for _, e := range st.events {
		typ := corev1.EventTypeNormal
		if e.warning {
			typ = corev1.EventTypeWarning
		}
		msg := e.msg
		if us.Status.LastCorrelationID != "" {
			msg += " (correlationID " + us.Status.LastCorrelationID + ")"
		}
		r.Recorder.Eventf(us, nil, typ, e.reason, e.action, "%s", msg)
	}
}

// recordTransitions turns condition changes into events.
func (r *UpstreamServerReconciler) recordTransitions(orig, us *mcpv1alpha1.UpstreamServer, st *serverState) {
	if !isTrue(orig, mcpv1alpha1.ConditionAuthorizationRequired) && isTrue(us, mcpv1alpha1.ConditionAuthorizationRequired) {
		cmd := ""
		if us.Status.Authorization != nil {
			cmd = ": run " + us.Status.Authorization.LoginCommand
		}
		st.event(true, "AuthorizationRequired", "Authorize", "Authorization required (%s)%s",
			conditionReason(us, mcpv1alpha1.ConditionAuthorizationRequired), cmd)
	}
	wasConnected, connected := isTrue(orig, mcpv1alpha1.ConditionConnected), isTrue(us, mcpv1alpha1.ConditionConnected)
	switch {
	case !wasConnected && connected:
		st.event(false, "Connected", "Connect", "Connected to %s", us.Spec.URL)
	case wasConnected && !connected:
		st.event(true, "Disconnected", "Connect", "Disconnected from %s: %s",
			us.Spec.URL, conditionReason(us, mcpv1alpha1.ConditionConnected))
	}
}

// sessionKey is the pool key of a server's session.
func sessionKey(us *mcpv1alpha1.UpstreamServer) string {
	return types.NamespacedName{Namespace: us.Namespace, Name: us.Name}.String()
}

// StoreKey binds the token to what the spec declares: changing the URL, issuer, client or
// resource addresses another record, so an old token never reaches a new target.
func StoreKey(us *mcpv1alpha1.UpstreamServer) tokenstore.Key {
	b := tokenstore.Binding{ServerURL: us.Spec.URL}
	if o := us.Spec.OAuth; o != nil {
		b.Issuer, b.ClientID, b.Resource = o.AuthorizationServer, o.ClientID, o.Resource
	}
	return tokenstore.Key{Namespace: us.Namespace, Name: us.Name, Binding: b}
}
