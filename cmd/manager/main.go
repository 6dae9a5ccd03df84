// Command manager runs the mcpproxy-operator controller: it owns every UpstreamServer's OAuth
// token (persisted in an encrypted bbolt file) and its live MCP session.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/controllers"
	"github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/browserlogin"
	"github.com/mcpproxy/mcpproxy-operator/internal/logging"
	"github.com/mcpproxy/mcpproxy-operator/internal/mcpconn"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

type options struct {
	tokenStore, keyFile     string
	maxConcurrent           int
	leaderElect             bool
	leaderElectionNamespace string
	metricsAddr, probeAddr  string
	storeOpenTimeout        time.Duration
	browserLogin            bool
	gatewayAddr             string
	gatewayLoopbackNoAuth   bool
}

func main() {
	var o options
	flag.StringVar(&o.tokenStore, "token-store", "mcpproxy-tokens.db", "Path of the bbolt token store (created 0600).")
	flag.StringVar(&o.keyFile, "token-encryption-key-file", "", "File with the AES-256 key(s) sealing the token store; generated next to the store when empty.")
	flag.IntVar(&o.maxConcurrent, "max-concurrent-reconciles", 4, "How many different servers reconcile in parallel.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Use leader election, so only one manager writes the token store.")
	flag.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's).")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.DurationVar(&o.storeOpenTimeout, "token-store-open-timeout", 5*time.Second, "How long to wait for the token store's file lock.")
	flag.BoolVar(&o.browserLogin, "browser-login", false, "Open a browser on this machine to log in when a server needs authorization (local runs only).")
	flag.StringVar(&o.gatewayAddr, "gateway-bind-address", ":8090", "Address of the MCP gateway (/servers/<namespace>/<name>/mcp and /mcp); 0 disables it.")
	flag.BoolVar(&o.gatewayLoopbackNoAuth, "gateway-allow-loopback-unauthenticated", false, "Let gateway callers from a loopback address in without a token, allowed every server (local runs only).")
	zapOpts := crzap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(crzap.New(crzap.UseFlagOptions(&zapOpts), crzap.RawZapOpts(zap.WrapCore(logging.Redacting))))
	if err := run(o); err != nil {
		ctrl.Log.WithName("setup").Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func run(o options) error {
	log := ctrl.Log.WithName("setup")
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := mcpv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}

	if dir := filepath.Dir(o.tokenStore); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating the token store directory: %w", err)
		}
	}
	store, err := tokenstore.Open(o.tokenStore, tokenstore.Options{
		KeyFile: o.keyFile, OpenTimeout: o.storeOpenTimeout, Logger: ctrl.Log.WithName("tokenstore"),
	})
	if err != nil {
		return fmt.Errorf("opening the token store %s: %w", o.tokenStore, err)
	}
	defer func() { _ = store.Close() }()

	// Only hand-over Secrets are cached; other Secrets are read one by one when a spec names them.
	handOvers, err := labels.NewRequirement(mcpv1alpha1.HandOverServerLabel, selection.Exists, nil)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "mcpproxy-operator.mcp.mcpproxy.dev",
		LeaderElectionNamespace: o.leaderElectionNamespace,
		// The token store is released only when the process exits; a new leader must not start
		// before that, so leadership is not handed over early.
		LeaderElectionReleaseOnCancel: false,
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*handOvers)},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	events := controllers.NewSignals()
	sessions := mcpconn.NewPool("mcpproxy-operator", events.Wake)
	defer sessions.CloseAll()
	r := &controllers.UpstreamServerReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Store:                   store,
		OAuth:                   controllers.HTTPOAuthClient{},
		Sessions:                sessions,
		Recorder:                mgr.GetEventRecorder("mcpproxy-operator"),
		Clock:                   clock.RealClock{},
		MaxConcurrentReconciles: o.maxConcurrent,
	}
	if o.browserLogin {
		bl := newBrowserLogin(mgr.GetClient(), ctrl.Log.WithName("browserlogin"), browserlogin.Options{})
		defer bl.Close()
		r.BrowserLogin = bl
	}
	if err := r.SetupWithManager(mgr, events); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	if o.gatewayAddr != "0" {
		gw, err := gateway.New(gateway.Options{
			Addr: o.gatewayAddr, Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: store,
			Informers: mgr.GetCache(), Notify: events.Wake, AllowLoopbackUnauthenticated: o.gatewayLoopbackNoAuth,
			Logger: ctrl.Log.WithName("gateway"),
		})
		if err != nil {
			return err
		}
		if err := mgr.Add(gw); err != nil {
			return fmt.Errorf("adding the gateway: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("Starting manager", "tokenStore", o.tokenStore, "maxConcurrentReconciles", o.maxConcurrent)
	return mgr.Start(ctrl.SetupSignalHandler())
}
