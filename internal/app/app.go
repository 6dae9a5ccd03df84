package app

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/lifecycle"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// Manager is one wired manager. Its parts are exposed for tests (which read the store, the
// session pool and the gateway's address); Start runs it.
type Manager struct {
	// Manager is controller-runtime's manager (client, cache, runnables).
	ctrl.Manager
	// Store is the open token store (bbolt or Secrets, Options.TokenStoreBackend), closed by
	// Start when the manager stops.
	Store tokenstore.Backend
	// Sessions is the live MCP session pool.
	Sessions *mcpconn.Pool
	// Egress is the transport of the reconciler's sessions and OAuth calls; GatewayEgress the
	// gateway's (both netguard: egress policy, credential binding).
	Egress, GatewayEgress *netguard.Transport
	// Signals carries in-process wake-ups and refresh requests to the reconciler.
	Signals *controllers.Signals
	// Reconciler is the UpstreamServer reconciler.
	Reconciler *controllers.UpstreamServerReconciler
	// Credentials is the UpstreamCredential reconciler.
	Credentials *controllers.UpstreamCredentialReconciler
	// BrowserLogin is the manager's own browser login, nil unless Options.BrowserLogin.
	BrowserLogin *BrowserLogin
	// Gateway is the MCP gateway runnable, nil unless Options.Gateway.
	Gateway *gateway.Gateway

	log       logr.Logger
	shard     *controllers.Shard
	closeOnce sync.Once
}

// NewScheme returns the scheme the manager and the tests' clients use: client-go's types and
// mcp.mcpproxy.dev/v1alpha1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := mcpv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New wires a manager against cfg. On error everything it opened is closed again; on success
// the caller must call Start (or Close, if it never starts it).
func New(cfg *rest.Config, o Options) (m *Manager, err error) {
	log := o.Logger
	if log.GetSink() == nil {
		log = ctrl.Log
	}
	m = &Manager{log: log}
	m.Egress, m.GatewayEgress = egress(o)
	defer func() {
		if err != nil {
			m.Close()
			m = nil
		}
	}()
	if m.Store, err = openStore(cfg, o, log); err != nil {
		return nil, err
	}
	shard, err := parseShard(o.WatchLabelSelector)
	if err != nil {
		return nil, err
	}
	if m.Manager, err = newControllerManager(cfg, o, shard, log); err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if m.shard, err = newShard(cfg, m.Manager, o, shard); err != nil {
		return nil, err
	}
	if err := m.wireReconciler(o); err != nil {
		return nil, fmt.Errorf("setting up the controller: %w", err)
	}
	if o.Gateway != nil {
		if err := m.wireGateway(o, log); err != nil {
			return nil, err
		}
	}
	if o.LeaderElection {
		// Runs only once this replica holds the lease: which replica refreshes, in its own log.
		if err := m.Add(manager.RunnableFunc(func(ctx context.Context) error {
			log.Info("Became the leader: this replica reconciles and refreshes tokens now")
			<-ctx.Done()
			return nil
		})); err != nil {
			return nil, err
		}
	}
	if err := m.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := m.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return m, nil
}

// handOverMetadataOnly keeps of a hand-over's metadata only what the controller reads from the
// cache: its name, identity, times, and server and credential labels. Annotations, managedFields (which list
// every data key), other labels, finalizers and owners are whatever the Secret's author chose,
// up to the object size limit; the reconciler reads them from the API server when it ingests.
//
// The cache keys its per-object settings by GVK, so the typed Secret entry and the metadata one
// are one entry, either of which may win: both carry this transform, and a typed Secret loses its
// data too (nothing reads Secret data from the cache).
func handOverMetadataOnly(obj any) (any, error) {
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		o.ObjectMeta = keptMetadata(&o.ObjectMeta)
		return o, nil
	case *corev1.Secret:
		o.ObjectMeta = keptMetadata(&o.ObjectMeta)
		o.Data, o.StringData = nil, nil
		return o, nil
	}
	return obj, nil
}

func keptMetadata(m *metav1.ObjectMeta) metav1.ObjectMeta {
	kept := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, CreationTimestamp: m.CreationTimestamp, DeletionTimestamp: m.DeletionTimestamp}
	for _, l := range []string{mcpv1alpha1.HandOverServerLabel, mcpv1alpha1.HandOverCredentialLabel} {
		if v, ok := m.Labels[l]; ok {
			if kept.Labels == nil {
				kept.Labels = map[string]string{}
			}
			kept.Labels[l] = v
		}
	}
	return kept
}

// newControllerManager builds controller-runtime's manager with the cache scope every
// manager needs: only hand-over Secrets are cached (other Secrets are read one by one when a
// spec names them), optionally only some namespaces.
func newControllerManager(cfg *rest.Config, o Options, shard labels.Selector, log logr.Logger) (ctrl.Manager, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	handOvers, err := labels.NewRequirement(mcpv1alpha1.HandOverServerLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	onlyHandOvers := labels.NewSelector().Add(*handOvers)
	// Hand-over Secrets are watched by metadata alone: a tenant who labels many large Secrets
	// costs the manager their names, not their data. A hand-over's data is read from the API
	// server when the reconciler ingests it. The API server also selects them by type (which
	// never changes on a Secret), so a labelled Secret of another type is never seen, and never
	// deleted, as a hand-over.
	loginType := fields.OneTermEqualSelector("type", mcpv1alpha1.HandOverSecretType)
	secretMeta := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}}
	cacheOpts := cache.Options{
		// Nothing reads managed fields from the cache, and they are half of a reconciled
		// server (each status field the manager writes, listed again): each refresh copied
		// them out of the cache and through its status patch's diff.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: onlyHandOvers, Field: loginType, Transform: handOverMetadataOnly},
			secretMeta:       {Label: onlyHandOvers, Field: loginType, Transform: handOverMetadataOnly},
		}}
	if shard != nil {
		// Only the shard's servers are cached, so the gateway serves only those; other shards'
		// are dropped at reconcile (controllers.Shard).
		cacheOpts.ByObject[&mcpv1alpha1.UpstreamServer{}] = cache.ByObject{Label: shard}
	}
	cacheOpts.DefaultNamespaces = namespaceConfigs(o.Namespaces)
	return ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  log,
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  orDisabled(o.ProbeAddr),
		PprofBindAddress:        orDisabled(o.PprofAddr),
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        cmp.Or(o.LeaderElectionID, leaderElectionID),
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		LeaseDuration:           durationOrDefault(o.LeaseDuration),
		RenewDeadline:           durationOrDefault(o.RenewDeadline),
		RetryPeriod:             durationOrDefault(o.RetryPeriod),
		// A bbolt file is released only when the process exits: a new leader must not start
		// before that, so leadership is not handed over early. Secrets have no such lock, and
		// the lease is released only after every reconcile has returned, so a replica that
		// stops hands over at once instead of after a lease duration.
		LeaderElectionReleaseOnCancel: o.TokenStoreBackend == StoreBackendSecrets,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(o.SkipNameValidation)},
		Cache:                         cacheOpts,
		GracefulShutdownTimeout:       gracefulShutdown(o.GracefulShutdownTimeout),
	})
}

// wireReconciler creates the signals, the session pool, the reconcilers (servers and
// credentials) and (optionally) the browser login, and registers the controllers.
func (m *Manager) wireReconciler(o Options) error {
	m.Signals = controllers.NewSignals()
	name := o.SessionClientName
	if name == "" {
		name = defaultSessionClientName
	}
	m.Sessions = mcpconn.NewPool(name, m.Signals.Wake, m.Egress)
	m.Sessions.SetLimits(o.MCPLimits)
	var clk clock.PassiveClock = clock.RealClock{}
	if o.Clock != nil {
		clk = o.Clock
	}
	var oauthClient controllers.OAuthClient = controllers.HTTPOAuthClient{HTTPClient: m.Egress.Client(oauthRequestTimeout)}
	if o.OAuth != nil {
		oauthClient = o.OAuth
	}
	m.Reconciler = &controllers.UpstreamServerReconciler{
		Client:                  m.GetClient(),
		APIReader:               m.GetAPIReader(),
		Store:                   m.Store,
		OAuth:                   oauthClient,
		Sessions:                m.Sessions,
		Recorder:                m.GetEventRecorder(eventSource),
		Clock:                   clk,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		Shard:                   m.shard,
	}
	if o.BrowserLogin {
		m.BrowserLogin = newBrowserLogin(m.GetClient(), m.log.WithName("browserlogin"), o.BrowserLoginPoll)
		m.BrowserLogin.httpClient = m.Egress.Client(oauthRequestTimeout)
		m.Reconciler.BrowserLogin = m.BrowserLogin
	}
	m.Credentials = &controllers.UpstreamCredentialReconciler{
		Client:    m.GetClient(),
		APIReader: m.GetAPIReader(),
		Store:     m.Store,
		OAuth:     oauthClient,
		// A credential keeps no session: one request proves each new token, then it is closed.
		Verifier:                lifecycle.OneShotSessions{ClientName: name, Base: m.Egress, Limits: o.MCPLimits},
		Recorder:                m.GetEventRecorder(eventSource),
		Clock:                   clk,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		Shard:                   m.shard,
	}
	if err := controllers.IndexCredentials(context.Background(), m.Manager); err != nil {
		return fmt.Errorf("indexing credentials by server: %w", err)
	}
	if err := m.Reconciler.SetupWithManager(m.Manager, m.Signals); err != nil {
		return err
	}
	return m.Credentials.SetupWithManager(m.Manager, m.Signals)
}

// namespaceConfigs scopes a cache to namespaces; nil (the whole cluster) for none.
func namespaceConfigs(namespaces []string) map[string]cache.Config {
	if len(namespaces) == 0 {
		return nil
	}
	m := map[string]cache.Config{}
	for _, ns := range namespaces {
		m[ns] = cache.Config{}
	}
	return m
}

// durationOrDefault is a controller-runtime duration option: nil (its default) for zero.
func durationOrDefault(d time.Duration) *time.Duration {
	if d <= 0 {
		return nil
	}
	return &d
}

// gracefulShutdown is controller-runtime's option: nil keeps its default.
func gracefulShutdown(d time.Duration) *time.Duration {
	if d <= 0 {
		return nil
	}
	return &d
}

// Start runs the manager until ctx is done, then stops the browser flows, closes the MCP
// sessions and the token store, in that order (each one's users are gone by then).
func (m *Manager) Start(ctx context.Context) error {
	defer m.Close()
	return m.Manager.Start(ctx)
}

// Close releases what New opened without starting. Start calls it; calling it twice is safe.
// The store is closed last: flows and sessions may still be finishing a save.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		if m.BrowserLogin != nil {
			m.BrowserLogin.Close()
		}
		if m.Sessions != nil {
			m.Sessions.CloseAll()
		}
		if m.Store != nil {
			_ = m.Store.Close()
		}
	})
}

// metricsOptions serves metrics plain, or with TLS (a self-signed certificate) and every scrape
// authenticated and authorized against the API server.
func metricsOptions(o Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: orDisabled(o.MetricsAddr)}
	if o.MetricsSecure {
		m.SecureServing = true
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}
