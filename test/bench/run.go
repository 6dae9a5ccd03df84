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
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

// Steady is what a steady window measures of a fleet of token holders (servers or credentials).
type Steady struct {
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
	// ReconcilesByController splits ReconcilesPerRef by controller (upstreamserver,
	// upstreamcredential).
	ReconcilesByController map[string]float64 `json:"reconcilesPerRefreshByController,omitempty"`
	CPUSecondsPerRef       float64            `json:"cpuSecondsPerRefresh"`
	WorkQueueDepthMaxObs   float64            `json:"workQueueDepthMaxObserved"`
	// Memory of the manager at the end of the window.
	RSSBytes  float64 `json:"rssBytes"`
	HeapBytes float64 `json:"heapInuseBytes"`
}

// Result is every figure of one N.
type Result struct {
	N int `json:"n"`
	// Steady state: a window of Lifetimes token lifetimes after every server turned Ready.
	Steady
	// Throughput: the catch-up after every token expired while the manager was down.
	CatchUpRefreshes     int     `json:"catchUpRefreshes"`
	ControllerThroughput float64 `json:"controllerRefreshesPerSecond"`
	RawThroughput        float64 `json:"rawEndpointRefreshesPerSecond"`
	RawWorkers           int     `json:"rawWorkers"`
	ThroughputRatio      float64 `json:"throughputRatio"`
	CatchUpAllReadyS     float64 `json:"catchUpAllConnectedSeconds"`
	// Burst: every server asked to refresh at once (annotation) while its session is live.
	Burst
	BurstRatio float64 `json:"burstThroughputRatio"`
	// RawPipeline is the three I/O steps of a refresh (token request, fsync'd save, status
	// patch) by RawWorkers workers with no controller: the ceiling of the burst.
	RawPipeline float64 `json:"rawPipelineRefreshesPerSecond"`
	// RawPipelineCPU is the CPU ms per refresh of each process in the raw pipeline (cpushare.go).
	RawPipelineCPU map[string]float64 `json:"rawPipelineCPUMsPerRefresh,omitempty"`
	// RawPipelineFleet is the raw pipeline again, on copies of the fleet's servers (whole
	// status, managed fields), while the manager is down before the catch-up: each patch costs
	// the API server what a refresh of the fleet costs it.
	RawPipelineFleet    float64            `json:"rawPipelineFleetRefreshesPerSecond"`
	RawPipelineFleetCPU map[string]float64 `json:"rawPipelineFleetCPUMsPerRefresh,omitempty"`
	// ObjectBytes is the JSON size of a fleet server (managed fields included) and of the raw
	// pipeline's bare one, as the API server holds them.
	FleetObjectBytes int     `json:"fleetObjectBytes"`
	RawObjectBytes   int     `json:"rawObjectBytes"`
	BurstPipelineRat float64 `json:"burstPipelineRatio"`
	// Scheduled: every token lined up to fall due at once (scheduled.go), with no API write
	// to ask for the refreshes.
	Scheduled
	ScheduledPipelineRat float64 `json:"scheduledPipelineRatio"`
	// ScheduledFleetPipelineRat is the scheduled burst over RawPipelineFleet.
	ScheduledFleetPipelineRat float64 `json:"scheduledFleetPipelineRatio"`
	// Login: hand-over Secret created → Ready, as seen by a watch.
	HandOverToReady Dist    `json:"handOverToReady"`
	SeedSeconds     float64 `json:"seedSeconds"`
	// Cold start: restart mid-cycle.
	ColdStartAllReadyS float64 `json:"coldStartAllConnectedSeconds"`
	ColdStartRefreshes int     `json:"coldStartRefreshes"`
	ColdStartDue       int     `json:"coldStartDue"`
	// ColdStartReconciles, ColdStartReconcileMean and ColdStartPhases (mean seconds per
	// reconcile, "queue" the work queue) are the restarted manager's until all connected, and
	// ColdStartCores the CPU it used over that time.
	ColdStartReconciles    float64            `json:"coldStartReconciles"`
	ColdStartReconcileMean float64            `json:"coldStartReconcileMeanSeconds"`
	ColdStartPhases        map[string]float64 `json:"coldStartPhaseMeanSeconds,omitempty"`
	ColdStartCores         float64            `json:"coldStartManagerCores"`
	// ColdStartCPU is what every process used of the CPU until all connected: a cold start
	// that keeps the machine busy is bound by its cores.
	ColdStartCPU CPUUse `json:"coldStartCPU"`
	// Memory after the steady window (Steady), per server above the manager's idle baseline.
	RSSPerServerBytes   float64 `json:"rssPerServerBytes"`
	HeapPerServerBytes  float64 `json:"heapPerServerBytes"`
	Completed           bool    `json:"completed"`
	Problem             string  `json:"problem,omitempty"`
	MaxConcurrentRecons int     `json:"maxConcurrentReconciles"`
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
	// Credentials is the per-subject run (nil when it did not run).
	Credentials *CredentialResult `json:"credentials,omitempty"`
}

// Run measures every N of cfg, then the per-subject credentials, and writes the report files
// into cfg.OutDir: results.{json,md,png}, or credentials.{json,md} when only credentials ran.
func Run(cfg Config) (*Report, error) {
	if len(cfg.Ns) == 0 && cfg.Credentials == 0 {
		return nil, fmt.Errorf("nothing to measure: no N and no credentials")
	}
	cfg, bin, cleanup, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
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
	if cfg.Credentials > 0 {
		res, err := runCredentials(cfg, bin)
		if err != nil {
			res.Completed = false
			res.Problem = err.Error()
			logf(cfg, "credentials: %v", err)
		}
		rep.Credentials = &res
		if err := writeReport(cfg.OutDir, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// prepare fills in cfg's defaults (the repository root, a work directory, an absolute output
// directory) and builds the manager there (bin); cleanup removes a work directory it created.
func prepare(cfg Config) (_ Config, bin string, cleanup func(), err error) {
	cfg, cleanup, err = defaults(cfg)
	if err != nil {
		return cfg, "", cleanup, err
	}
	if bin, err = buildManager(cfg); err != nil {
		cleanup()
		return cfg, "", func() {}, err
	}
	return cfg, bin, cleanup, nil
}

// defaults fills in cfg's defaults for prepare.
func defaults(cfg Config) (_ Config, cleanup func(), _ error) {
	cleanup = func() {}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return cfg, cleanup, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run through make (it builds the control plane once)")
	}
	if cfg.RepoRoot == "" {
		root, err := controlplane.RepoRoot()
		if err != nil {
			return cfg, cleanup, err
		}
		cfg.RepoRoot = root
	}
	ctrllog.SetLogger(logr.Discard()) // the watch's client-go logs are not wanted here
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "mcpproxy-bench-")
		if err != nil {
			return cfg, cleanup, err
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		cfg.WorkDir = dir
	}
	if !filepath.IsAbs(cfg.OutDir) {
		cfg.OutDir = filepath.Join(cfg.RepoRoot, cfg.OutDir)
	}
	return cfg, cleanup, nil
}

// buildManager builds bin/manager from cfg.RepoRoot into cfg.WorkDir and returns its path.
func buildManager(cfg Config) (string, error) {
	bin := filepath.Join(cfg.WorkDir, "manager")
	logf(cfg, "Building the manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = cfg.RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/manager: %w\n%s", err, out)
	}
	return bin, nil
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

// nRun is what the phases of one N share. The manager is a field because the cold start and
// the catch-up replace it: whatever stops it at the end must reach the one running then.
type nRun struct {
	cfg          Config
	n            int
	dir          string
	res          *Result
	a            *authServer
	c            client.Client
	kube         *rest.Config // the control plane, as its administrator
	margs        managerArgs
	m            *managerProc
	seeds        []seeded
	readyTimeout time.Duration
}

// runOne measures one N on a control plane and an OAuth server of its own, through every phase
// in turn; res holds what was measured even when a phase fails, so the report shows how far it got.
func runOne(cfg Config, bin string, n int) (res Result, gw *GatewayResult, err error) {
	res = Result{N: n, MaxConcurrentRecons: cfg.MaxConcurrentReconciles, RawWorkers: cfg.MaxConcurrentReconciles}
	r := &nRun{cfg: cfg, n: n, dir: filepath.Join(cfg.WorkDir, fmt.Sprintf("n%d", n)), res: &res,
		readyTimeout: 2*time.Minute + time.Duration(n)*40*time.Millisecond}
	logf(cfg, "N=%d: starting the control plane and the OAuth server", n)
	cp, err := controlplane.Start(filepath.Join(cfg.RepoRoot, "config", "crd", "bases"), r.dir)
	if err != nil {
		return res, nil, err
	}
	defer func() { _ = cp.Stop() }()
	if r.a, err = startAuthServer(n, cfg.MaxConcurrentReconciles, cfg.TokenTTL); err != nil {
		return res, nil, err
	}
	defer r.a.close()
	r.kube = cp.Config
	if r.c, err = newClient(cp.Config); err != nil {
		return res, nil, err
	}
	if err := r.rawEndpoint(); err != nil {
		return res, nil, err
	}

	r.margs = managerArgs{bin: bin, kubeconfig: cp.KubeconfigPath, store: filepath.Join(r.dir, "store", "tokens.db"),
		maxConcurrent: cfg.MaxConcurrentReconciles, logDir: r.dir}
	if r.m, err = startManager(r.margs); err != nil {
		return res, nil, err
	}
	defer func() { r.m.stop() }()
	watch, err := watchReady(cp.Config, &mcpv1alpha1.UpstreamServer{})
	if err != nil {
		return res, nil, err
	}
	defer watch.cancel()
	if err := r.measure(watch); err != nil {
		return res, nil, err
	}
	gw = r.gateway()
	res.Completed = true
	return res, gw, nil
}

// rawEndpoint measures the token endpoint alone, first, while nothing else runs: it is the
// ceiling the controller's throughput is compared with.
func (r *nRun) rawEndpoint() (err error) {
	if r.res.RawThroughput, err = r.a.rawThroughput(r.cfg.MaxConcurrentReconciles, r.cfg.RawDuration); err != nil {
		return err
	}
	logf(r.cfg, "N=%d: raw token endpoint: %.0f refreshes/s with %d clients", r.n, r.res.RawThroughput, r.cfg.MaxConcurrentReconciles)
	prof := profileAPIServer(r.cfg, r.kube, r.cfg.RawDuration)
	before := sampleCPU(nil)
	run, err := r.a.rawPipeline(r.c, r.dir, r.cfg.MaxConcurrentReconciles, r.cfg.RawDuration, nil)
	if err != nil {
		return fmt.Errorf("raw pipeline: %w", err)
	}
	r.res.RawPipeline, r.res.RawObjectBytes = run.rate, run.objectBytes
	r.res.RawPipelineCPU = cpuPerRefresh(cpuUse(before, sampleCPU(nil)), run.refreshes)
	prof.write(r.cfg, r.dir, fmt.Sprintf("apiserver-n%d-raw-pipeline", r.n))
	logf(r.cfg, "N=%d: raw pipeline (token request, fsync'd save, status patch): %.0f refreshes/s with %d workers; CPU per refresh: %s",
		r.n, r.res.RawPipeline, r.cfg.MaxConcurrentReconciles, cpuCell(r.res.RawPipelineCPU))
	return nil
}

// measure runs the phases that need the manager, in order: each starts from the state the one
// before left (logged in, steady, restarted, all expired).
func (r *nRun) measure(watch *readyWatch) error {
	time.Sleep(2 * time.Second) // let the manager's caches sync before the idle baseline
	base, err := r.m.procStats()
	if err != nil {
		return err
	}
	baseMetrics, err := r.m.scrape()
	if err != nil {
		return err
	}
	if err := r.seedServers(watch); err != nil {
		return err
	}
	if err := r.steady(base, baseMetrics); err != nil {
		return err
	}
	if err := r.coldStart(); err != nil {
		return err
	}
	if err := r.catchUp(); err != nil {
		return err
	}
	if err := burst(r.cfg, r.res, r.c, r.kube, r.a, r.m, r.n, r.dir, r.readyTimeout); err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	return nil
}

// seedServers creates the N servers, each logged in through a hand-over, and waits until the
// watch has seen every one Ready: the steady window starts only with all of them live.
func (r *nRun) seedServers(watch *readyWatch) (err error) {
	logf(r.cfg, "N=%d: creating %d logged-in servers", r.n, r.n)
	ctx := context.Background()
	seedStart := time.Now()
	if r.seeds, err = seed(ctx, r.c, r.a, 0, r.n, 16); err != nil {
		return err
	}
	if err := waitFor(r.readyTimeout, func() bool { return watch.count() == r.n }); err != nil {
		return fmt.Errorf("only %d of %d servers turned Ready: %w", watch.count(), r.n, err)
	}
	r.res.SeedSeconds = time.Since(seedStart).Seconds()
	r.res.HandOverToReady = handOverToReady(r.seeds, watch)
	logf(r.cfg, "N=%d: all Ready after %.1fs; hand-over to Ready p50 %.0fms p99 %.0fms", r.n, r.res.SeedSeconds,
		r.res.HandOverToReady.P50, r.res.HandOverToReady.P99)
	return nil
}

// handOverToReady is the time from each holder's hand-over to the first Ready the watch saw.
func handOverToReady(seeds []seeded, watch *readyWatch) Dist {
	var h2r []time.Duration
	for _, s := range seeds {
		if t, ok := watch.at(s.name); ok {
			h2r = append(h2r, max(0, t.Sub(s.handOverCreated)))
		}
	}
	return distOf(h2r)
}

// gateway measures the MCP gateway if this is the N chosen for it, and is nil otherwise. A
// failed measurement becomes the report's note, not a failed N: the controller's figures stand.
func (r *nRun) gateway() *GatewayResult {
	if r.n != r.cfg.GatewayN {
		return nil
	}
	logf(r.cfg, "N=%d: gateway", r.n)
	g, err := benchGateway(r.cfg, r.a, replicas{r.m}, r.n)
	if err != nil {
		g = GatewayResult{Note: "not measured: " + err.Error()}
		logf(r.cfg, "N=%d: gateway: %v", r.n, err)
	}
	return &g
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
