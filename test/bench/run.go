package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

// Result is every figure of one N.
type Result struct {
	N int `json:"n"`
	// Steady state: a window of Lifetimes token lifetimes after every server turned Ready.
	WindowSeconds       float64 `json:"windowSeconds"`
	DueRefreshes        int     `json:"dueRefreshes"`
	RefreshedBeforeExp  float64 `json:"refreshedBeforeExpiryPct"`
	Lateness            Dist    `json:"lateness"`
	SteadyRefreshRate   float64 `json:"steadyRefreshesPerSecond"`
	RefreshFailures     int     `json:"refreshFailures"`
	APIWritesPerRefresh float64 `json:"apiWritesPerRefresh"`
	StatusPatchesPerRef float64 `json:"statusPatchesPerRefresh"`
	OtherWritesPerRef   float64 `json:"otherWritesPerRefresh"`
	ReconcilesPerRef    float64 `json:"reconcilesPerRefresh"`
	CPUSecondsPerRef    float64 `json:"cpuSecondsPerRefresh"`
	// Throughput: the catch-up after every token expired while the manager was down.
	CatchUpRefreshes     int     `json:"catchUpRefreshes"`
	ControllerThroughput float64 `json:"controllerRefreshesPerSecond"`
	RawThroughput        float64 `json:"rawEndpointRefreshesPerSecond"`
	RawWorkers           int     `json:"rawWorkers"`
	ThroughputRatio      float64 `json:"throughputRatio"`
	CatchUpAllReadyS     float64 `json:"catchUpAllConnectedSeconds"`
	// Burst: every server asked to refresh at once (annotation) while its session is live.
	BurstRefreshes     int     `json:"burstRefreshes"`
	BurstThroughput    float64 `json:"burstRefreshesPerSecond"`
	BurstRatio         float64 `json:"burstThroughputRatio"`
	BurstAnnotateS     float64 `json:"burstAnnotateSeconds"`
	BurstReconcileMean float64 `json:"burstReconcileMeanSeconds"`
	BurstTokenCallMean float64 `json:"burstTokenCallMeanSeconds"`
	// Login: hand-over Secret created → Ready, as seen by a watch.
	HandOverToReady Dist    `json:"handOverToReady"`
	SeedSeconds     float64 `json:"seedSeconds"`
	// Cold start: restart mid-cycle.
	ColdStartAllReadyS float64 `json:"coldStartAllConnectedSeconds"`
	ColdStartRefreshes int     `json:"coldStartRefreshes"`
	ColdStartDue       int     `json:"coldStartDue"`
	// Memory after the steady window, above the manager's idle baseline.
	RSSBytes             float64 `json:"rssBytes"`
	HeapBytes            float64 `json:"heapInuseBytes"`
	RSSPerServerBytes    float64 `json:"rssPerServerBytes"`
	HeapPerServerBytes   float64 `json:"heapPerServerBytes"`
	Completed            bool    `json:"completed"`
	Problem              string  `json:"problem,omitempty"`
	MaxConcurrentRecons  int     `json:"maxConcurrentReconciles"`
	WorkQueueDepthMaxObs float64 `json:"workQueueDepthMaxObserved"`
	// ShutdownSeconds is the longest SIGTERM-to-exit of the manager in this run.
	ShutdownSeconds float64 `json:"shutdownSeconds"`
	// Breakdown of the catch-up, from the manager's metrics: mean seconds per reconcile and per
	// token request, API requests per refresh by method (GETs include the manager's start).
	CatchUpReconcileMeanS float64            `json:"catchUpReconcileMeanSeconds"`
	CatchUpTokenCallMeanS float64            `json:"catchUpTokenCallMeanSeconds"`
	CatchUpAPIRequests    map[string]float64 `json:"catchUpAPIRequestsPerRefresh,omitempty"`
}

// Report is the whole run.
type Report struct {
	Date                    string        `json:"date"`
	Commit                  string        `json:"commit"`
	Machine                 string        `json:"machine"`
	TokenTTLSeconds         float64       `json:"tokenTTLSeconds"`
	Lifetimes               float64       `json:"lifetimes"`
	MaxConcurrentReconciles int           `json:"maxConcurrentReconciles"`
	Results                 []Result      `json:"results"`
	Gateway                 GatewayResult `json:"gateway"`
}

// Run measures every N of cfg and writes the report files into cfg.OutDir.
func Run(cfg Config) (*Report, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run through make (it builds the control plane once)")
	}
	if cfg.RepoRoot == "" {
		root, err := findRepoRoot()
		if err != nil {
			return nil, err
		}
		cfg.RepoRoot = root
	}
	ctrllog.SetLogger(logr.Discard()) // the watch's client-go logs are not wanted here
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "mcpproxy-bench-")
		if err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		cfg.WorkDir = dir
	}
	if !filepath.IsAbs(cfg.OutDir) {
		cfg.OutDir = filepath.Join(cfg.RepoRoot, cfg.OutDir)
	}
	bin := filepath.Join(cfg.WorkDir, "manager")
	logf(cfg, "Building the manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = cfg.RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/manager: %w\n%s", err, out)
	}
	rep := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), Commit: commit(cfg.RepoRoot), Machine: machine(), TokenTTLSeconds: cfg.TokenTTL.Seconds(),
		Lifetimes: cfg.Lifetimes, MaxConcurrentReconciles: cfg.MaxConcurrentReconciles,
		Gateway: GatewayResult{Note: "not measured: no N of this run was chosen for the gateway"},
	}
	for _, n := range cfg.Ns {
		res, gw, err := runOne(cfg, bin, n)
		if err != nil {
			res.Completed = false
			res.Problem = err.Error()
			logf(cfg, "N=%d: %v", n, err)
		}
		if gw != nil {
			rep.Gateway = *gw
		}
		rep.Results = append(rep.Results, res)
		if err := writeReport(cfg.OutDir, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func logf(cfg Config, format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// commit names the source the manager was built from; "-dirty" means uncommitted changes.
func commit(root string) string {
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					model = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func runOne(cfg Config, bin string, n int) (res Result, gw *GatewayResult, err error) {
	res = Result{N: n, MaxConcurrentRecons: cfg.MaxConcurrentReconciles, RawWorkers: cfg.MaxConcurrentReconciles}
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("n%d", n))
	logf(cfg, "N=%d: starting the control plane and the OAuth server", n)
	cp, err := controlplane.Start(filepath.Join(cfg.RepoRoot, "config", "crd", "bases"), dir)
	if err != nil {
		return res, nil, err
	}
	defer func() { _ = cp.Stop() }()
	a, err := startAuthServer(n, cfg.MaxConcurrentReconciles, cfg.TokenTTL)
	if err != nil {
		return res, nil, err
	}
	defer a.close()
	c, err := newClient(cp.Config)
	if err != nil {
		return res, nil, err
	}

	// The raw endpoint first, while nothing else runs.
	if res.RawThroughput, err = a.rawThroughput(cfg.MaxConcurrentReconciles, cfg.RawDuration); err != nil {
		return res, nil, err
	}
	logf(cfg, "N=%d: raw token endpoint: %.0f refreshes/s with %d clients", n, res.RawThroughput, cfg.MaxConcurrentReconciles)

	margs := managerArgs{bin: bin, kubeconfig: cp.KubeconfigPath, store: filepath.Join(dir, "store", "tokens.db"),
		maxConcurrent: cfg.MaxConcurrentReconciles, logDir: dir}
	m, err := startManager(margs)
	if err != nil {
		return res, nil, err
	}
	defer func() { m.stop() }()
	watch, err := watchReady(cp.Config)
	if err != nil {
		return res, nil, err
	}
	defer watch.cancel()
	time.Sleep(2 * time.Second) // let the manager's caches sync before the idle baseline
	base, err := m.procStats()
	if err != nil {
		return res, nil, err
	}
	baseMetrics, err := m.scrape()
	if err != nil {
		return res, nil, err
	}

	// Seed: N servers, each logged in through a hand-over.
	logf(cfg, "N=%d: creating %d logged-in servers", n, n)
	ctx := context.Background()
	seedStart := time.Now()
	seeds, err := seed(ctx, c, a, n, 16)
	if err != nil {
		return res, nil, err
	}
	readyTimeout := 2*time.Minute + time.Duration(n)*40*time.Millisecond
	if err := waitFor(readyTimeout, func() bool { return watch.count() == n }); err != nil {
		return res, nil, fmt.Errorf("only %d of %d servers turned Ready: %w", watch.count(), n, err)
	}
	res.SeedSeconds = time.Since(seedStart).Seconds()
	var h2r []time.Duration
	for _, s := range seeds {
		if t, ok := watch.at(s.name); ok {
			h2r = append(h2r, max(0, t.Sub(s.handOverCreated)))
		}
	}
	res.HandOverToReady = distOf(h2r)
	logf(cfg, "N=%d: all Ready after %.1fs; hand-over to Ready p50 %.0fms p99 %.0fms", n, res.SeedSeconds,
		res.HandOverToReady.P50, res.HandOverToReady.P99)

	// Steady state.
	window := time.Duration(cfg.Lifetimes * float64(cfg.TokenTTL))
	logf(cfg, "N=%d: steady state for %s", n, window)
	from := time.Now()
	m0, err := m.scrape()
	if err != nil {
		return res, nil, err
	}
	p0, _ := m.procStats()
	depth := 0.0
	for end := from.Add(window); time.Now().Before(end); {
		time.Sleep(min(time.Until(end), 5*time.Second)) // scrapes cost the manager CPU; keep them rare
		if s, err := m.scrape(); err == nil {
			depth = max(depth, s.sum("workqueue_depth", `name="upstreamserver"`))
		}
	}
	to := time.Now()
	m1, err := m.scrape()
	if err != nil {
		return res, nil, err
	}
	p1, _ := m.procStats()
	events, failed := a.rec.snapshot()
	f := analyseRefreshes(seeds, events, from, to)
	res.WindowSeconds = to.Sub(from).Seconds()
	res.DueRefreshes = f.due
	if f.due > 0 {
		res.RefreshedBeforeExp = 100 * float64(f.beforeExpiry) / float64(f.due)
	}
	res.Lateness = distOf(f.lateness)
	res.RefreshFailures = failed
	res.WorkQueueDepthMaxObs = depth
	refreshed := m1.sum("mcpproxy_token_refreshes_total", `result="success"`) - m0.sum("mcpproxy_token_refreshes_total", `result="success"`)
	res.SteadyRefreshRate = refreshed / res.WindowSeconds
	if refreshed > 0 {
		writes := m1.apiWrites() - m0.apiWrites()
		patches := m1.sum("mcpproxy_status_patches_total") - m0.sum("mcpproxy_status_patches_total")
		res.APIWritesPerRefresh = writes / refreshed
		res.StatusPatchesPerRef = patches / refreshed
		res.OtherWritesPerRef = (writes - patches) / refreshed
		res.ReconcilesPerRef = (m1.sum("controller_runtime_reconcile_total") - m0.sum("controller_runtime_reconcile_total")) / refreshed
		res.CPUSecondsPerRef = (p1.CPUSeconds - p0.CPUSeconds) / refreshed
	}
	res.RSSBytes = p1.RSSBytes
	res.HeapBytes = m1.sum("go_memstats_heap_inuse_bytes")
	res.RSSPerServerBytes = (p1.RSSBytes - base.RSSBytes) / float64(n)
	res.HeapPerServerBytes = (res.HeapBytes - baseMetrics.sum("go_memstats_heap_inuse_bytes")) / float64(n)
	logf(cfg, "N=%d: %d due, %.1f%% before expiry, lateness p50 %.0fms p99 %.0fms max %.0fms, %.2f writes/refresh",
		n, res.DueRefreshes, res.RefreshedBeforeExp, res.Lateness.P50, res.Lateness.P99, res.Lateness.Max, res.APIWritesPerRefresh)

	// Cold start: a restart in the middle of the cycle.
	logf(cfg, "N=%d: cold start", n)
	res.ShutdownSeconds = max(res.ShutdownSeconds, m.stop().Seconds())
	restart := time.Now()
	if m, err = startManager(margs); err != nil {
		return res, nil, err
	}
	allUp, err := waitConnected(m, n, readyTimeout)
	if err != nil {
		return res, nil, fmt.Errorf("cold start: %w", err)
	}
	res.ColdStartAllReadyS = allUp.Sub(restart).Seconds()
	res.ColdStartRefreshes, _, _ = a.rec.countBetween(restart, allUp)
	events, _ = a.rec.snapshot()
	res.ColdStartDue = dueBy(seeds, events, restart, allUp)
	logf(cfg, "N=%d: cold start: all connected after %.1fs with %d refreshes (%d were due)", n,
		res.ColdStartAllReadyS, res.ColdStartRefreshes, res.ColdStartDue)

	// Catch-up: down until every token has expired, so all N are due at once.
	res.ShutdownSeconds = max(res.ShutdownSeconds, m.stop().Seconds())
	events, _ = a.rec.snapshot()
	wake := latestExpiry(seeds, events).Add(time.Second)
	logf(cfg, "N=%d: catch-up: manager down for %s, until every token has expired", n, time.Until(wake).Round(time.Second))
	time.Sleep(time.Until(wake))
	restart = time.Now()
	if m, err = startManager(margs); err != nil {
		return res, nil, err
	}
	var prof *profiler
	if cfg.Profile {
		prof = startProfile(m.p.Pid(), filepath.Join(dir, "perf.data"))
	}
	allUp, err = waitConnected(m, n, readyTimeout)
	if err != nil {
		return res, nil, fmt.Errorf("catch-up: %w", err)
	}
	res.CatchUpAllReadyS = allUp.Sub(restart).Seconds()
	// Wait until every server has its refresh (connection may come first only if it did not).
	_ = waitFor(readyTimeout, func() bool { k, _, _ := a.rec.countBetween(restart, time.Now()); return k >= n })
	if err := prof.stop(filepath.Join(cfg.OutDir, fmt.Sprintf("profile-n%d.txt", n))); err != nil {
		logf(cfg, "N=%d: profile: %v", n, err)
	}
	k, first, last := a.rec.countBetween(restart, time.Now())
	if cm, err := m.scrape(); err == nil {
		catchUpBreakdown(&res, cm, float64(k))
	}
	res.CatchUpRefreshes = k
	if k > 1 && last.After(first) {
		res.ControllerThroughput = float64(k) / last.Sub(first).Seconds()
	}
	if res.RawThroughput > 0 {
		res.ThroughputRatio = res.ControllerThroughput / res.RawThroughput
	}
	logf(cfg, "N=%d: catch-up: %d refreshes at %.1f/s (raw endpoint %.0f/s, ratio %.2f); all connected after %.1fs",
		n, k, res.ControllerThroughput, res.RawThroughput, res.ThroughputRatio, res.CatchUpAllReadyS)

	if err := burst(cfg, &res, c, a, m, n, dir, readyTimeout); err != nil {
		return res, nil, fmt.Errorf("burst: %w", err)
	}

	if n == cfg.GatewayN {
		logf(cfg, "N=%d: gateway", n)
		g, err := benchGateway(cfg, a, m, n)
		if err != nil {
			g = GatewayResult{Note: "not measured: " + err.Error()}
			logf(cfg, "N=%d: gateway: %v", n, err)
		}
		gw = &g
	}
	res.Completed = true
	return res, gw, nil
}

func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}
