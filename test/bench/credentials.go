package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
	"github.com/mcpproxy/mcpproxy-operator/internal/upstream"
)

// The per-subject run (issues 17 and 18): Credentials logged-in UpstreamCredentials spread over
// CredentialServers PerSubject servers, one upstream user each, kept fresh by one manager. A
// credential holds no live session: each login and each refresh is proven by one MCP request.
// The servers of a run share one OAuth client each, as a pre-registered client would be shared
// by everyone logging in to it, so the recorder follows each credential's refresh-token chain.

// CredentialResult is every figure of the per-subject run.
type CredentialResult struct {
	Servers         int     `json:"servers"`
	Credentials     int     `json:"credentials"`
	TokenTTLSeconds float64 `json:"tokenTTLSeconds"`
	Lifetimes       float64 `json:"lifetimes"`
	// Steady state: a window of Lifetimes token lifetimes after every credential turned Ready.
	Steady
	// DemandPerSecond is the refresh rate the fleet needs: Credentials over the mean interval
	// the controller plans between two refreshes of one credential.
	DemandPerSecond float64 `json:"demandRefreshesPerSecond"`
	// Login: hand-over Secret created → credential Ready (its token proven), as a watch sees it;
	// SeedSeconds from the first credential created until all were Ready.
	HandOverToReady Dist    `json:"handOverToReady"`
	SeedSeconds     float64 `json:"seedSeconds"`
	// Before is the manager with the servers Ready and no credential; After the same manager
	// after the steady window. Per credential is their difference over Credentials.
	Before                 MemFigures `json:"before"`
	After                  MemFigures `json:"after"`
	RSSPerCredentialBytes  float64    `json:"rssPerCredentialBytes"`
	HeapPerCredentialBytes float64    `json:"heapPerCredentialBytes"`
	LivePerCredentialBytes float64    `json:"liveHeapPerCredentialBytes"`
	MaxConcurrentRecons    int        `json:"maxConcurrentReconciles"`
	// ShutdownSeconds is the manager's SIGTERM-to-exit at the end.
	ShutdownSeconds float64 `json:"shutdownSeconds"`
	Completed       bool    `json:"completed"`
	Problem         string  `json:"problem,omitempty"`
}

func credentialServerName(k int) string { return fmt.Sprintf("ps%03d", k) }
func credentialName(i int) string       { return fmt.Sprintf("c%05d", i) }
func credentialUser(i int) string       { return fmt.Sprintf("user-%05d", i) }

// credentialClientID is the OAuth client every login to PerSubject server k uses.
func credentialClientID(k int) string { return fmt.Sprintf("per-subject-%03d", k) }

// meanRefreshInterval is the mean time between two planned refreshes of a token that lives ttl
// (lifecycle.RefreshTime with the default refreshBefore: a quarter of the lifetime, at most 5
// minutes, plus a jitter of up to a tenth of it).
func meanRefreshInterval(ttl time.Duration) time.Duration {
	before := min(ttl/4, 5*time.Minute)
	return ttl - before - before/20
}

// credRun is what the per-subject run's steps share.
type credRun struct {
	cfg   Config
	dir   string
	res   *CredentialResult
	a     *authServer
	c     client.Client
	m     *managerProc
	seeds []seeded
}

// runCredentials measures the per-subject fleet on a control plane, an OAuth server and a
// manager of its own; res holds what was measured even when a step fails.
func runCredentials(cfg Config, bin string) (res CredentialResult, err error) {
	k, n := cfg.CredentialServers, cfg.Credentials
	res = CredentialResult{Servers: k, Credentials: n, TokenTTLSeconds: cfg.CredentialTTL.Seconds(), Lifetimes: cfg.Lifetimes,
		MaxConcurrentRecons: cfg.MaxConcurrentReconciles,
		DemandPerSecond:     float64(n) / meanRefreshInterval(cfg.CredentialTTL).Seconds()}
	r := &credRun{cfg: cfg, dir: filepath.Join(cfg.WorkDir, "credentials"), res: &res}
	logf(cfg, "credentials: starting the control plane and the OAuth server")
	cp, err := controlplane.Start(filepath.Join(cfg.RepoRoot, "config", "crd", "bases"), r.dir)
	if err != nil {
		return res, err
	}
	defer func() { _ = cp.Stop() }()
	clients := make([]string, k)
	for i := range clients {
		clients[i] = credentialClientID(i)
	}
	if r.a, err = startAuthServer(0, 0, cfg.CredentialTTL, clients...); err != nil {
		return res, err
	}
	defer r.a.close()
	if r.c, err = newClient(cp.Config); err != nil {
		return res, err
	}
	// gctrace gives the live heap before and after the fleet, as in the decoy run.
	if r.m, err = startManager(managerArgs{bin: bin, kubeconfig: cp.KubeconfigPath, store: filepath.Join(r.dir, "store", "tokens.db"),
		maxConcurrent: cfg.MaxConcurrentReconciles, logDir: r.dir, env: []string{"GODEBUG=gctrace=1"}}); err != nil {
		return res, err
	}
	defer func() { res.ShutdownSeconds = max(res.ShutdownSeconds, r.m.stop().Seconds()) }()
	if err := r.servers(cp); err != nil {
		return res, err
	}
	if err := r.seedCredentials(cp); err != nil {
		return res, err
	}
	f := fleet{cfg: cfg, label: "credentials", m: r.m, rec: r.a.rec, holders: r.seeds, ttl: cfg.CredentialTTL,
		queue: "upstreamcredential", profile: filepath.Join(cfg.OutDir, "profile-credentials.txt")}
	if res.Steady, err = f.steady(); err != nil {
		return res, err
	}
	logf(cfg, "credentials: the manager after the window (waiting up to %s for a GC)", cfg.GCWait)
	if res.After, err = memFigures(cfg, r.m, time.Now()); err != nil {
		return res, err
	}
	per := func(before, after float64) float64 { return (after - before) / float64(n) }
	res.RSSPerCredentialBytes = per(res.Before.RSSBytes, res.After.RSSBytes)
	res.HeapPerCredentialBytes = per(res.Before.HeapInuseBytes, res.After.HeapInuseBytes)
	if res.Before.LiveHeapBytes > 0 && res.After.LiveHeapBytes > 0 {
		res.LivePerCredentialBytes = per(res.Before.LiveHeapBytes, res.After.LiveHeapBytes)
	}
	logf(cfg, "credentials: per credential: RSS %.1f KiB, heap in use %.1f KiB, live heap %.1f KiB",
		res.RSSPerCredentialBytes/1024, res.HeapPerCredentialBytes/1024, res.LivePerCredentialBytes/1024)
	res.Completed = true
	return res, nil
}

// servers creates the PerSubject servers, waits until each is Ready (its authorization server
// discovered), and takes the manager's memory then: the baseline the credentials add to.
func (r *credRun) servers(cp *controlplane.ControlPlane) error {
	k := r.cfg.CredentialServers
	logf(r.cfg, "credentials: creating %d PerSubject servers", k)
	watch, err := watchReady(cp.Config, &mcpv1alpha1.UpstreamServer{})
	if err != nil {
		return err
	}
	defer watch.cancel()
	for i := range k {
		us := &mcpv1alpha1.UpstreamServer{
			ObjectMeta: metav1.ObjectMeta{Name: credentialServerName(i), Namespace: benchNamespace},
			Spec:       mcpv1alpha1.UpstreamServerSpec{URL: r.a.MCPURL(), CredentialMode: mcpv1alpha1.CredentialModePerSubject},
		}
		if err := r.c.Create(context.Background(), us); err != nil {
			return err
		}
	}
	if err := waitFor(2*time.Minute, func() bool { return watch.count() == k }); err != nil {
		return fmt.Errorf("only %d of %d PerSubject servers turned Ready: %w", watch.count(), k, err)
	}
	time.Sleep(2 * time.Second) // let the servers' status writes settle before the baseline
	logf(r.cfg, "credentials: the manager with %d servers and no credential (waiting up to %s for a GC)", k, r.cfg.GCWait)
	r.res.Before, err = memFigures(r.cfg, r.m, time.Now())
	return err
}

// seedCredentials creates the credentials, each logged in through a credential hand-over, and
// waits until the watch has seen every one Ready: the steady window starts only with all of them
// proven.
func (r *credRun) seedCredentials(cp *controlplane.ControlPlane) (err error) {
	n := r.cfg.Credentials
	watch, err := watchReady(cp.Config, &mcpv1alpha1.UpstreamCredential{})
	if err != nil {
		return err
	}
	defer watch.cancel()
	logf(r.cfg, "credentials: creating %d logged-in credentials over %d servers", n, r.cfg.CredentialServers)
	start := time.Now()
	if r.seeds, err = parallel(n, 16, r.seedCredential); err != nil {
		return err
	}
	// A credential is Ready once its hand-over is stored and one MCP request proved its token.
	timeout := 2*time.Minute + time.Duration(n)*100*time.Millisecond
	if err := waitFor(timeout, func() bool { return watch.count() == n }); err != nil {
		return fmt.Errorf("only %d of %d credentials turned Ready: %w", watch.count(), n, err)
	}
	r.res.SeedSeconds = time.Since(start).Seconds()
	r.res.HandOverToReady = handOverToReady(r.seeds, watch)
	logf(r.cfg, "credentials: all Ready after %.1fs; hand-over to Ready p50 %.0fms p99 %.0fms", r.res.SeedSeconds,
		r.res.HandOverToReady.P50, r.res.HandOverToReady.P99)
	return nil
}

// seedCredential creates credential i for server i mod CredentialServers, bound to the
// Kubernetes user credentialUser(i), and hands it a login of the upstream user of the same name,
// the way `mcpproxy auth login SERVER --for user/NAME` does: a hand-over Secret with the server's
// and the credential's labels, owned by the credential, naming its creator.
func (r *credRun) seedCredential(i int) (seeded, error) {
	ctx := context.Background()
	k := i % r.cfg.CredentialServers
	user := credentialUser(i)
	cred := &mcpv1alpha1.UpstreamCredential{
		ObjectMeta: metav1.ObjectMeta{Name: credentialName(i), Namespace: benchNamespace},
		Spec: mcpv1alpha1.UpstreamCredentialSpec{
			ServerRef: mcpv1alpha1.ServerReference{Name: credentialServerName(k)},
			Subjects:  []mcpv1alpha1.CredentialSubject{{Kind: mcpv1alpha1.SubjectUser, Name: user}},
		},
	}
	if err := r.c.Create(ctx, cred); err != nil {
		return seeded{}, fmt.Errorf("creating credential %s: %w", cred.Name, err)
	}
	g, err := r.a.mintAs(ctx, credentialClientID(k), user)
	if err != nil {
		return seeded{}, fmt.Errorf("logging in for credential %s: %w", cred.Name, err)
	}
	// The server's client is shared: the recorder tells the credentials apart by refresh token.
	r.a.rec.track(g.RefreshToken, cred.Name)
	body, err := handOverPayload(r.a, g, credentialClientID(k))
	if err != nil {
		return seeded{}, err
	}
	sec := mcpv1alpha1.NewCredentialHandOverSecret(cred, body)
	sec.Annotations = map[string]string{mcpv1alpha1.AnnotationCreatedBy: user}
	if err := r.c.Create(ctx, sec); err != nil {
		return seeded{}, fmt.Errorf("handing over to credential %s: %w", cred.Name, err)
	}
	return seeded{name: cred.Name, holder: cred.Name, jitterKey: upstream.CredentialSessionKey(cred), handOverCreated: time.Now(),
		issued: g.Obtained, expiry: g.Expiry}, nil
}
