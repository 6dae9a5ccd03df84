// Command manager runs the mcpproxy-operator controller: it owns every UpstreamServer's OAuth
// token (persisted, sealed, in a bbolt file or in Secrets of its namespace) and its live MCP
// session. `manager rotate-key` rotates the token store's encryption key (see rotatekey.go);
// `manager migrate-store` copies a token store from one backend to the other (migratestore.go).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	ctrl "sigs.k8s.io/controller-runtime"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/logging"
	"github.com/mcpproxy/mcpproxy-operator/internal/netguard"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == rotateKeyCommand {
		os.Exit(rotateKeyMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == migrateStoreCommand {
		os.Exit(migrateStoreMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	o, gw := app.Options{}, app.GatewayOptions{}
	flag.StringVar(&o.TokenStoreBackend, "token-store-backend", app.StoreBackendBolt, "Where tokens are kept: bolt (a bbolt file, --token-store; one replica) or secrets "+
		"(one Secret per token in --token-store-namespace, sealed with --token-encryption-key-file, which it requires).")
	flag.StringVar(&o.TokenStore, "token-store", "mcpproxy-tokens.db", "Path of the bbolt token store (created 0600), for --token-store-backend=bolt.")
	flag.StringVar(&o.TokenStoreNamespace, "token-store-namespace", "", "Namespace of the token Secrets, for --token-store-backend=secrets "+
		"(default: the pod's, from POD_NAMESPACE or the ServiceAccount's namespace file). Keep it the manager's own: tenants must not edit it.")
	flag.StringVar(&o.KeyFile, "token-encryption-key-file", "", "File with the AES-256 key(s) sealing the token store; for bolt, generated next to the store when empty.")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "How many different servers reconcile in parallel.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "Use leader election, so only one manager writes the token store.")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's).")
	flag.StringVar(&o.LeaderElectionID, "leader-election-id", "", "Name of the leader election lease (default: mcpproxy-operator.mcp.mcpproxy.dev); each shard needs its own.")
	flag.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a leader's lease holds: after a leader dies, refreshes wait at most this long for a new one.")
	flag.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew its lease before it gives up leadership (and exits).")
	flag.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 2*time.Second, "How often replicas try to take or renew the lease.")
	flag.StringVar(&o.WatchLabelSelector, "watch-label-selector", "", "Reconcile and serve only the UpstreamServers this label selector matches (and their credentials), to split a large fleet between "+
		"manager Deployments: for example sharding.mcpproxy.dev/key=shard1 on a shard and !sharding.mcpproxy.dev/key on the main one.")
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.BoolVar(&o.MetricsSecure, "metrics-secure", false, "Serve metrics over HTTPS, each scrape authenticated and authorized (GET /metrics) against the API server.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "0", "Address of net/http/pprof (/debug/pprof/), for profiling; 0 disables it. Unauthenticated: bind it to loopback.")
	flag.DurationVar(&o.StoreOpenTimeout, "token-store-open-timeout", 5*time.Second, "How long to wait for the token store's file lock.")
	flag.BoolVar(&o.BrowserLogin, "browser-login", false, "Open a browser on this machine to log in when a server needs authorization (local runs only).")
	flag.StringVar(&gw.Addr, "gateway-bind-address", ":8090", "Address of the MCP gateway (/servers/<namespace>/<name>/mcp and /mcp); 0 disables it.")
	flag.BoolVar(&gw.AllowLoopbackUnauthenticated, "gateway-allow-loopback-unauthenticated", false, "Let gateway callers from a loopback address in without a token, allowed every server (local runs only).")
	flag.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", app.DefaultGracefulShutdownTimeout,
		"How long the manager waits after SIGTERM for work in flight (a refresh and its save); keep it under the pod's terminationGracePeriodSeconds.")
	var namespaces listFlag
	flag.Var(&namespaces, "namespaces", "Only reconcile UpstreamServers (and watch their hand-over Secrets) in these namespaces; "+
		"repeatable, or a comma list. Default: every namespace. The manager then needs its Secret rules only there.")
	egress := egressFlags(flag.CommandLine)
	flag.Int64Var(&o.MCPLimits.MaxResponseBytes, "mcp-max-response-bytes", 0, "Largest MCP answer (JSON or error) read whole (0: 4 MiB).")
	flag.Int64Var(&o.MCPLimits.MaxEventBytes, "mcp-max-event-bytes", 0, "Largest event of an MCP event stream (0: 4 MiB).")
	flag.IntVar(&o.MCPLimits.MaxTools, "mcp-max-tools", 0, "Most tools kept per MCP server (0: 1000).")
	flag.IntVar(&o.MCPLimits.MaxToolBytes, "mcp-max-tool-bytes", 0, "Largest tool definition kept (0: 64 KiB).")
	flag.IntVar(&o.MCPLimits.MaxToolsBytes, "mcp-max-tools-bytes", 0, "Largest tool list kept per server, all definitions together (0: 4 MiB).")
	zapOpts := crzap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	policy, err := egress.policy()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o.Egress = policy
	o.Namespaces = namespaces.items()
	if o.TokenStoreBackend == app.StoreBackendSecrets && o.TokenStoreNamespace == "" {
		if o.TokenStoreNamespace, err = podNamespace(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}

	ctrl.SetLogger(crzap.New(crzap.UseFlagOptions(&zapOpts), crzap.RawZapOpts(zap.WrapCore(logging.Redacting))))
	if gw.Addr != "0" {
		o.Gateway = &gw
	}
	if err := run(o); err != nil {
		ctrl.Log.WithName("setup").Error(err, "Manager stopped")
		os.Exit(1)
	}
}

// run wires the manager (internal/app, the same wiring every test uses) and runs it until
// SIGTERM or SIGINT.
func run(o app.Options) error {
	m, err := app.New(ctrl.GetConfigOrDie(), o)
	if err != nil {
		return err
	}
	where := o.TokenStore
	if o.TokenStoreBackend == app.StoreBackendSecrets {
		where = "secrets in namespace " + o.TokenStoreNamespace
	}
	ctrl.Log.WithName("setup").Info("Starting manager", "tokenStore", where,
		"maxConcurrentReconciles", o.MaxConcurrentReconciles, "egress", o.Egress.String())
	return m.Start(ctrl.SetupSignalHandler())
}

// egressOptions are the egress policy flags. Both are repeatable and take comma lists.
type egressOptions struct {
	deny, allow   listFlag
	noDefaultDeny bool
}

func egressFlags(fs *flag.FlagSet) *egressOptions {
	e := &egressOptions{}
	fs.Var(&e.deny, strings.TrimPrefix(netguard.FlagDeny, "--"), "Network (CIDR or address) no outbound connection may reach, added to the default deny list "+
		"(link-local and cloud metadata: "+strings.Join(netguard.DefaultDeny, ",")+"). Repeatable, or a comma list. "+
		"Checked on the address actually dialled, after DNS resolution.")
	fs.Var(&e.allow, strings.TrimPrefix(netguard.FlagAllow, "--"), "Network that may be reached although a less specific denied network contains it "+
		"(the most specific match decides; at equal length allow wins). Repeatable, or a comma list.")
	fs.BoolVar(&e.noDefaultDeny, "egress-no-default-deny", false, "Start from an empty deny list instead of the link-local and metadata defaults.")
	return e
}

func (e *egressOptions) policy() (*netguard.Policy, error) {
	deny := []string(e.deny)
	if !e.noDefaultDeny {
		deny = append(append([]string(nil), netguard.DefaultDeny...), deny...)
	}
	return netguard.NewPolicy(deny, e.allow)
}

// listFlag collects a repeatable flag's values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// items splits each value on commas, dropping empty entries.
func (l listFlag) items() []string {
	var out []string
	for _, v := range l {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
