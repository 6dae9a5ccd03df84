package bench

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The HA run (issue 19, `bench -ha`): for each setup of token store and manager replicas, on a
// fleet of its own, the gateway's throughput with the clients' sessions spread over the
// replicas round robin (as a Service spreads them), then a refresh burst, with the API writes
// each refresh costs and the CPU every process on the machine used. With the Secrets store the
// replicas elect a leader, which alone reconciles; every replica serves the gateway.

// The token stores a setup may use.
const (
	storeBolt    = "bolt"
	storeSecrets = "secrets"
)

// HASetup is a token store and how many manager replicas share it.
type HASetup struct {
	Store    string `json:"store"`
	Replicas int    `json:"replicas"`
}

func (s HASetup) String() string { return fmt.Sprintf("%s ×%d", s.Store, s.Replicas) }

// elects says whether the replicas run with leader election: on the Secrets store, as the
// chart runs them; a bbolt manager runs alone, as the rest of the bench runs it.
func (s HASetup) elects() bool { return s.Store == storeSecrets }

// parseHASetups reads "bolt:1,secrets:1,secrets:3".
func parseHASetups(v string) ([]HASetup, error) {
	var out []HASetup
	for _, f := range strings.Split(v, ",") {
		store, n, _ := strings.Cut(strings.TrimSpace(f), ":")
		r, err := strconv.Atoi(n)
		switch {
		case err != nil || r < 1:
			return nil, fmt.Errorf("%q: want STORE:REPLICAS, like secrets:3", f)
		case store != storeBolt && store != storeSecrets:
			return nil, fmt.Errorf("%q: the store is %s or %s", f, storeBolt, storeSecrets)
		case store == storeBolt && r > 1:
			return nil, fmt.Errorf("%q: a bbolt file has one writer; several replicas need the Secrets store", f)
		}
		out = append(out, HASetup{Store: store, Replicas: r})
	}
	return out, nil
}

// HAReport is the HA run: one result per setup.
type HAReport struct {
	Date                    string     `json:"date"`
	Commit                  string     `json:"commit"`
	Machine                 string     `json:"machine"`
	TokenTTLSeconds         float64    `json:"tokenTTLSeconds"`
	MaxConcurrentReconciles int        `json:"maxConcurrentReconciles"`
	Setups                  []HAResult `json:"setups"`
}

// HAResult is one setup's figures.
type HAResult struct {
	HASetup
	// Leader is the replica that held the lease (-1: no leader election).
	Leader  int           `json:"leader"`
	Gateway GatewayResult `json:"gateway"`
	// Bursts are HABursts bursts one after the other (none: HAN 0, or the run stopped before
	// them); Steady is nil when it was not measured (HALifetimes 0 too).
	Bursts []HABurst `json:"bursts,omitempty"`
	Steady *HASteady `json:"steady,omitempty"`
	// ShutdownSeconds is the longest SIGTERM-to-exit of a replica at the end.
	ShutdownSeconds float64 `json:"shutdownSeconds"`
	Completed       bool    `json:"completed"`
	Problem         string  `json:"problem,omitempty"`
}

// HABurst is a refresh burst on one setup and what its refreshes cost.
type HABurst struct {
	Servers int `json:"servers"`
	Burst
	// Costs run from the first refresh request until the managers were idle again (the last
	// refreshes' saves and status patches come after their token answers).
	Costs RefreshCosts `json:"costs"`
}

// HASteady is a window of scheduled refreshes after the burst (none was asked for).
type HASteady struct {
	Steady Steady       `json:"steady"`
	Costs  RefreshCosts `json:"costs"`
}

// RefreshCosts is what the refreshes of a window cost, each.
type RefreshCosts struct {
	// Refreshes is what the managers counted in the window.
	Refreshes float64 `json:"refreshes"`
	// APIWritesPerRefresh is every write the managers sent (rest_client_requests_total of all
	// replicas): status patches (mcpproxy_status_patches_total), token Secret writes (the API
	// server's count of writes to Secrets) and the rest (OtherWritesPerRefresh: events,
	// leases).
	APIWritesPerRefresh         float64 `json:"apiWritesPerRefresh"`
	StatusPatchesPerRefresh     float64 `json:"statusPatchesPerRefresh"`
	TokenSecretWritesPerRefresh float64 `json:"tokenSecretWritesPerRefresh"`
	OtherWritesPerRefresh       float64 `json:"otherWritesPerRefresh"`
	// GETsPerRefresh is the managers' GETs (reads, lists and lease checks of every replica).
	GETsPerRefresh float64 `json:"getsPerRefresh"`
	// APIServerWritesPerRefresh is every write the API server counted, by "resource VERB",
	// less the harness's own: the managers' writes, and the API server's (its lease).
	APIServerWritesPerRefresh map[string]float64 `json:"apiServerWritesPerRefresh"`
	// CPU is what every process used in the window.
	CPU CPUUse `json:"cpu"`
}

// RunHA measures every setup of cfg.HASetups on a fleet of its own and writes ha.json and
// ha.md into cfg.OutDir.
func RunHA(cfg Config) (*HAReport, error) {
	if len(cfg.HASetups) == 0 || cfg.GatewayN == 0 && cfg.HAN == 0 {
		return nil, fmt.Errorf("nothing to measure: no HA setup, or neither BENCH_GATEWAY_N nor BENCH_HA_N")
	}
	cfg, bin, cleanup, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rep := &HAReport{Date: time.Now().UTC().Format(time.RFC3339), Commit: commit(cfg.RepoRoot), Machine: machine(),
		TokenTTLSeconds: cfg.TokenTTL.Seconds(), MaxConcurrentReconciles: cfg.MaxConcurrentReconciles}
	for i, s := range cfg.HASetups {
		res, err := runHASetup(cfg, bin, s, fmt.Sprintf("ha-%d-%s-%d", i, s.Store, s.Replicas))
		if err != nil {
			res.Problem = err.Error()
			logf(cfg, "%s: %v", s, err)
		}
		rep.Setups = append(rep.Setups, res)
		if err := writeHAReport(cfg.OutDir, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// runHASetup measures one setup: the gateway on GatewayN servers, then HABursts bursts of HAN
// and the scheduled refreshes after them.
func runHASetup(cfg Config, bin string, s HASetup, name string) (res HAResult, err error) {
	res = HAResult{HASetup: s, Leader: -1, Gateway: GatewayResult{Note: "not measured (BENCH_GATEWAY_N=0)"}}
	logf(cfg, "%s: starting the control plane, the OAuth server and %d manager(s)", s, s.Replicas)
	f, err := startFleet(cfg, bin, s, max(cfg.GatewayN, cfg.HAN), name)
	if err != nil {
		return res, err
	}
	defer func() { res.ShutdownSeconds = f.rs.stop().Seconds(); f.stop() }()
	res.Leader = f.rs.leader()
	if cfg.GatewayN > 0 {
		if err := f.grow(cfg.GatewayN); err != nil {
			return res, err
		}
		if err := f.waitListed(); err != nil {
			return res, err
		}
		logf(cfg, "%s: gateway, %d servers, sessions over %d replica(s)", s, f.n, s.Replicas)
		if res.Gateway, err = benchGateway(cfg, f.a, f.rs, f.n); err != nil {
			res.Gateway = GatewayResult{Note: "not measured: " + err.Error()}
			logf(cfg, "%s: gateway: %v", s, err)
		}
	}
	if cfg.HAN > 0 {
		if err := f.grow(cfg.HAN); err != nil {
			return res, err
		}
		// Every replica's gateway connects to each new server to list its tools, and rebuilds
		// its catalog as each answers: a burst started before that settles measures it too.
		if err := f.waitListed(); err != nil {
			return res, err
		}
		for range cfg.HABursts {
			b, err := haBurst(cfg, f, cfg.HAN)
			res.Bursts = append(res.Bursts, b)
			if err != nil {
				return res, fmt.Errorf("burst: %w", err)
			}
		}
		if cfg.HALifetimes > 0 {
			st, err := haSteady(cfg, f)
			res.Steady = &st
			if err != nil {
				return res, fmt.Errorf("steady window: %w", err)
			}
		}
	}
	res.Leader = f.rs.leader() // the same, unless the lease moved
	res.Completed = true
	return res, nil
}

// haBurst measures a burst of the fleet's first n servers and what its refreshes cost.
func haBurst(cfg Config, f *gatewayFleet, n int) (HABurst, error) {
	hb := HABurst{Servers: n}
	logf(cfg, "%s: burst of %d refreshes", f.setup, n)
	var begin costMeter
	var err, merr error
	var profs []replicaProfile
	hb.Burst, err = runBurst(f.c, f.a, f.rs, n, 2*time.Minute+time.Duration(n)*40*time.Millisecond, func(i int) {
		if i == 0 {
			begin, merr = meter(f)
			profs = profileReplicas(cfg, f)
			return
		}
		for _, p := range profs {
			if perr := p.stop(p.out); perr != nil {
				logf(cfg, "%s: profile: %v", f.setup, perr)
			}
		}
	})
	if err = cmp.Or(err, merr); err != nil {
		return hb, err
	}
	if err := waitIdle(f.rs, time.Minute); err != nil {
		return hb, err
	}
	end, err := meter(f)
	if err != nil {
		return hb, err
	}
	hb.Costs = begin.costs(end, n) // the harness asked each server once: a PATCH
	logf(cfg, "%s: burst: %d refreshes at %.1f/s; %s", f.setup, hb.BurstRefreshes, hb.BurstThroughput, hb.Costs)
	return hb, nil
}

// replicaProfile is a CPU profile of one replica, to be written to out.
type replicaProfile struct {
	*profiler
	out string
}

// profileReplicas samples the CPU of the leader (or the lone manager) and of one follower, when
// cfg.Profile: profile-ha-STORE-REPLICAS-burst-ROLE.txt in cfg.OutDir.
func profileReplicas(cfg Config, f *gatewayFleet) []replicaProfile {
	if !cfg.Profile {
		return nil
	}
	leader := max(0, f.rs.leader())
	roles := map[string]int{"manager": leader}
	if len(f.rs) > 1 {
		roles = map[string]int{"leader": leader, "follower": (leader + 1) % len(f.rs)}
	}
	var out []replicaProfile
	for role, i := range roles {
		name := fmt.Sprintf("profile-ha-%s-%d-burst-%s", f.setup.Store, f.setup.Replicas, role)
		if p := startProfile(f.rs[i].pid(), filepath.Join(f.dir, name+".data")); p != nil {
			out = append(out, replicaProfile{p, filepath.Join(cfg.OutDir, name+".txt")})
		}
	}
	return out
}

// haSteady watches the fleet's scheduled refreshes for cfg.HALifetimes token lifetimes.
func haSteady(cfg Config, f *gatewayFleet) (HASteady, error) {
	var hs HASteady
	begin, err := meter(f)
	if err != nil {
		return hs, err
	}
	cfg.Lifetimes = cfg.HALifetimes
	fl := fleet{cfg: cfg, label: f.setup.String(), m: f.rs, rec: f.a.rec, holders: f.seeds, ttl: cfg.TokenTTL, queue: "upstreamserver"}
	if hs.Steady, err = fl.steady(); err != nil {
		return hs, err
	}
	end, err := meter(f)
	if err != nil {
		return hs, err
	}
	hs.Costs = begin.costs(end, 0)
	logf(cfg, "%s: steady: %s", f.setup, hs.Costs)
	return hs, nil
}

// costMeter is what a window's costs are read from at either end: the managers' counters, the
// API server's writes and every process's CPU time.
type costMeter struct {
	m   metricSet
	api map[string]float64
	cpu cpuSample
}

func meter(f *gatewayFleet) (costMeter, error) {
	m, err := f.rs.scrape()
	if err != nil {
		return costMeter{}, err
	}
	api, err := apiServerScrape(f.cp.Config)
	if err != nil {
		return costMeter{}, err
	}
	return costMeter{m: m, api: apiServerWrites(api), cpu: sampleCPU(f.rs)}, nil
}

// costs divides what was counted from c0 to c1 by the refreshes the managers completed. The
// harness patched harnessPatches servers meanwhile (its refresh requests): the API server
// counted those too.
func (c0 costMeter) costs(c1 costMeter, harnessPatches int) RefreshCosts {
	rc := RefreshCosts{CPU: cpuUse(c0.cpu, c1.cpu)}
	delta := func(name string, labels ...string) float64 {
		return c1.m.sum(name, labels...) - c0.m.sum(name, labels...)
	}
	rc.Refreshes = delta("mcpproxy_token_refreshes_total", `result="success"`)
	if rc.Refreshes <= 0 {
		return rc
	}
	rc.APIWritesPerRefresh = (c1.m.apiWrites() - c0.m.apiWrites()) / rc.Refreshes
	rc.StatusPatchesPerRefresh = delta("mcpproxy_status_patches_total") / rc.Refreshes
	rc.GETsPerRefresh = delta("rest_client_requests_total", `method="GET"`) / rc.Refreshes
	rc.APIServerWritesPerRefresh = map[string]float64{}
	secrets := 0.0
	for key, v := range c1.api {
		d := v - c0.api[key]
		if key == "upstreamservers PATCH" {
			d -= float64(harnessPatches)
		}
		if d <= 0 {
			continue
		}
		rc.APIServerWritesPerRefresh[key] = d / rc.Refreshes
		if strings.HasPrefix(key, "secrets ") {
			secrets += d
		}
	}
	rc.TokenSecretWritesPerRefresh = secrets / rc.Refreshes
	rc.OtherWritesPerRefresh = rc.APIWritesPerRefresh - rc.StatusPatchesPerRefresh - rc.TokenSecretWritesPerRefresh
	return rc
}

func (rc RefreshCosts) String() string {
	return fmt.Sprintf("%.0f refreshes, %.2f API writes each (status %.2f, token Secrets %.2f, other %.2f); CPU: %s",
		rc.Refreshes, rc.APIWritesPerRefresh, rc.StatusPatchesPerRefresh, rc.TokenSecretWritesPerRefresh, rc.OtherWritesPerRefresh, coresCell(rc.CPU))
}

// writeHAReport writes ha.json and ha.md into dir.
func writeHAReport(dir string, rep *HAReport) error {
	return writeJSONAndMarkdown(dir, "ha", rep, haMarkdown(rep))
}
