package controllers

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/oauth"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// observed is what observe read: the lifecycle's facts, and the request annotations the
// status will mark handled.
type observed struct {
	facts                 *lifecycle.Facts
	refreshReq, logoutReq string
	// handOverUIDs names the hand-overs read, so a deletion can only remove the Secret that was
	// read, never one created under the same name since.
	handOverUIDs map[string]types.UID
}

// observe reads everything a pass decides on, and writes nothing: the config with its Secrets
// resolved, the stored token (and an unsaved one), validated hand-overs, pending requests, the
// session and what status remembered.
func (r *UpstreamServerReconciler) observe(ctx context.Context, us *mcpv1alpha1.UpstreamServer, log logr.Logger) observed {
	f := &lifecycle.Facts{Now: r.Clock.Now(), Key: upstream.StoreKey(us), Suspended: us.Spec.Suspend,
		Prev: fromAPIStatus(&us.Status), PrevCurrent: us.Status.ObservedGeneration == us.Generation}
	obs := observed{facts: f}
	f.Config, f.ConfigErr = r.resolveConfig(ctx, us)
	f.Session = r.sessionFacts(f.Config.SessionKey)
	if f.ConfigErr != nil {
		// Hand-overs cannot be used with a broken config, and must not linger: plan rejects them
		// (and closes a session the old config opened).
		f.HandOvers, obs.handOverUIDs = r.handOvers(ctx, us, log)
		return obs
	}
	f.Unsaved = r.lifecycle().Unsaved(f.Key)
	if !loadRecord(r.Store, f, log) {
		return obs
	}
	pendingRequests(&obs, us.Annotations, us.Status.LastHandledRefreshRequest, us.Status.LastHandledLogoutRequest)
	f.HandOvers, obs.handOverUIDs = r.handOvers(ctx, us, log)
	if r.signals != nil {
		f.RejectedRevision = r.signals.rejectedRevision(upstream.Name(us))
	}
	f.RejectedRevision = reportedRejection(us.Annotations, f.RejectedRevision)

	return obs
}

// sessionFacts is what the pool says of the server's live session.
func (r *UpstreamServerReconciler) sessionFacts(key string) lifecycle.SessionFacts {
	s := r.Sessions.Get(key)
	if s == nil {
		return lifecycle.SessionFacts{}
	}
	return lifecycle.SessionFacts{Present: true, Healthy: s.Healthy(), Unauthorized: s.Unauthorized(), CheckedAt: s.CheckedAt()}
}

// maxHandOversPerPass bounds the hand-overs one pass reads (and the lifecycle acts on), below
// the lifecycle's bound on the steps of a pass.
const maxHandOversPerPass = 8

// handOvers lists the server's login hand-overs for its shared token, each validated against
// the server. A credential's hand-over names the server too, but is its credential's: it is
// left to that credential's reconcile. A PerSubject server holds no shared token, so each of
// its own hand-overs is refused, saying how to log in instead.
func (r *UpstreamServerReconciler) handOvers(ctx context.Context, us *mcpv1alpha1.UpstreamServer, log logr.Logger) ([]lifecycle.HandOver, map[string]types.UID) {
	validate := func(sec *corev1.Secret) (*tokenstore.Record, error) {
		return validateHandOver(us, serverOwned(us), sec)
	}
	if perSubject(us) {
		validate = func(*corev1.Secret) (*tokenstore.Record, error) { return nil, errSharedHandOver(us) }
	}
	return readHandOvers(ctx, r.Client, r.APIReader, us.Namespace, serverHandOvers(us.Name), validate, log)
}

// readHandOvers lists the hand-overs sel selects in ns, oldest first (so the newest valid login
// is stored last and wins), reads each whole from the API server and validates it.
func readHandOvers(ctx context.Context, cache, api client.Reader, ns string, sel labels.Selector,
	validate func(*corev1.Secret) (*tokenstore.Record, error), log logr.Logger) ([]lifecycle.HandOver, map[string]types.UID) {
	// The cache holds hand-overs' metadata only; the few that exist are read whole.
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := cache.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		log.Error(err, "Failed to list login hand-overs")
		return nil, nil
	}
	metas := make([]metav1.PartialObjectMetadata, 0, len(list.Items))
	for _, m := range list.Items {
		// Deleted already, and kept by someone's finalizer: never read or acted on again, or a
		// few kept junk hand-overs would take every pass.
		if m.DeletionTimestamp == nil {
			metas = append(metas, m)
		}
	}
	sort.Slice(metas, func(i, j int) bool {
		return metas[i].CreationTimestamp.Before(&metas[j].CreationTimestamp)
	})
	// A pass reads at most a few, oldest first; each one it deletes wakes the next pass, so a
	// pile of junk costs bounded reads per pass and is worked through, and a login behind it
	// is still reached.
	if len(metas) > maxHandOversPerPass {
		metas = metas[:maxHandOversPerPass]
	}
	out := make([]lifecycle.HandOver, 0, len(metas))
	uids := make(map[string]types.UID, len(metas))
	for _, m := range metas {
		sec := &corev1.Secret{}
		if err := api.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.Name}, sec); err != nil {
			if !apierrors.IsNotFound(err) {
				log.Error(err, "Failed to read a login hand-over", "secret", m.Name)
			}
			continue
		}
		if sec.UID != m.UID {
			continue // replaced under the same name since it was listed: its own event brings it back
		}
		rec, err := validate(sec)
		out = append(out, lifecycle.HandOver{Name: sec.Name, Record: rec, Err: err, CreatedAt: sec.CreationTimestamp.Time})
		uids[sec.Name] = sec.UID
	}
	return out, uids
}

// resolveConfig is the server's config, with the manager's browser login when it has one.
func (r *UpstreamServerReconciler) resolveConfig(ctx context.Context, us *mcpv1alpha1.UpstreamServer) (lifecycle.Config, error) {
	cfg, err := serverConfig(ctx, r.APIReader, us)
	cfg.BrowserLogin = r.BrowserLogin != nil
	cfg.PerSubject = perSubject(us)
	return cfg, err
}

// serverConfig reads the Secrets the spec names, each only if it allows this server
// (upstream.SecretAllows). Errors name the Secret and key, never a value. A credential's config
// starts from its server's.
func serverConfig(ctx context.Context, reader client.Reader, us *mcpv1alpha1.UpstreamServer) (lifecycle.Config, error) {
	cfg := lifecycle.Config{
		Target:         mcpconn.Target{URL: us.Spec.URL, Transport: string(us.Spec.Transport)},
		OAuth:          oauth.Config{ServerURL: us.Spec.URL},
		HealthInterval: healthInterval(us),
		SessionKey:     upstream.SessionKey(us),
		JitterKey:      upstream.SessionKey(us),
		LoginCommand:   LoginCommand(us),
	}
	h, err := upstream.ResolveHeaders(ctx, reader, us)
	if err != nil {
		return cfg, err
	}
	cfg.Target.Headers = h
	cfg.StaticOnly = h != nil && us.Spec.OAuth == nil
	if o := us.Spec.OAuth; o != nil {
		cfg.OAuth.ClientID = o.ClientID
		cfg.OAuth.ClientMetadataURL = o.ClientMetadataURL
		cfg.OAuth.Scopes = o.Scopes
		cfg.OAuth.Resource = o.Resource
		cfg.OAuth.AuthorizationServer = o.AuthorizationServer
		cfg.OAuth.ExtraParams = o.ExtraParams
		if o.RefreshBefore != nil {
			d := o.RefreshBefore.Duration
			cfg.RefreshBefore = &d
		}
		if o.ClientSecretRef != nil {
			v, err := upstream.SecretValue(ctx, reader, us, *o.ClientSecretRef, "spec.oauth.clientSecretRef")
			if err != nil {
				return cfg, err
			}
			cfg.OAuth.ClientSecret = v
		}
	}
	return cfg, nil
}

func healthInterval(us *mcpv1alpha1.UpstreamServer) time.Duration {
	if h := us.Spec.HealthCheckInterval; h != nil && h.Duration > 0 {
		return h.Duration
	}
	return 5 * time.Minute
}

// loadRecord reads the stored token into f; false when the store could not be read (f.StoreErr
// says why, and nothing more is observed).
func loadRecord(store TokenStore, f *lifecycle.Facts, log logr.Logger) bool {
	rec, err := store.Load(f.Key)
	switch {
	case errors.Is(err, tokenstore.ErrNotFound):
	case err != nil:
		log.Error(err, "Failed to read the token store")
		f.StoreErr = err
		return false
	default:
		f.Record = rec
	}
	return true
}

// reportedRejection is the newest revision a gateway reported rejected: inProcess (this
// replica's gateway), or another replica's in the rejected-revision annotation. An unreadable
// annotation reports nothing.
func reportedRejection(annotations map[string]string, inProcess uint64) uint64 {
	rev := inProcess
	if v, err := strconv.ParseUint(annotations[mcpv1alpha1.AnnotationRejectedRevision], 10, 64); err == nil {
		rev = max(rev, v)
	}
	return rev
}

// pendingRequests marks the refresh and logout a person asked for with annotations and the
// pass has not handled yet.
func pendingRequests(obs *observed, annotations map[string]string, handledRefresh, handledLogout string) {
	if v := annotations[mcpv1alpha1.AnnotationLogoutRequestedAt]; v != "" && v != handledLogout {
		obs.facts.LogoutRequested, obs.logoutReq = true, v
	}
	if v := annotations[mcpv1alpha1.AnnotationRefreshRequestedAt]; v != "" && v != handledRefresh {
		obs.facts.RefreshRequested, obs.refreshReq = true, v
	}
}
