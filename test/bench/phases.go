package bench

import (
	"fmt"
	"path/filepath"
	"time"
)

// steady watches the server fleet's steady state for cfg.Lifetimes token lifetimes and fills
// in its figures. base and baseMetrics are the idle manager's, before any server: memory is
// counted above them.
func (r *nRun) steady(base procStats, baseMetrics metricSet) (err error) {
	f := fleet{cfg: r.cfg, label: fmt.Sprintf("N=%d", r.n), m: r.m, rec: r.a.rec, holders: r.seeds, ttl: r.cfg.TokenTTL,
		queue: "upstreamserver"}
	res := r.res
	if res.Steady, err = f.steady(); err != nil {
		return err
	}
	res.RSSPerServerBytes = (res.RSSBytes - base.RSSBytes) / float64(r.n)
	res.HeapPerServerBytes = (res.HeapBytes - baseMetrics.sum("go_memstats_heap_inuse_bytes")) / float64(r.n)
	r.saveHeap()
	return nil
}

// fleet is a set of token holders (servers, or credentials) whose steady state one manager keeps.
type fleet struct {
	cfg   Config
	label string // names the fleet in the log
	m     process
	rec   *recorder
	// holders are the fleet's logins, as seeded.
	holders []seeded
	ttl     time.Duration
	// queue is the work queue the holders wait in (the controller's name).
	queue string
	// profile, when set and cfg.Profile, receives the manager's CPU profile of a minute in the
	// middle of the window.
	profile string
}

// steady watches the fleet for cfg.Lifetimes token lifetimes, starting now, and returns the
// window's figures: refreshes judged against the controller's plan, what each cost (from the
// manager's counters), and the manager's memory at the end.
func (f fleet) steady() (Steady, error) {
	var s Steady
	window := time.Duration(f.cfg.Lifetimes * float64(f.ttl))
	logf(f.cfg, "%s: steady state for %s", f.label, window)
	from := time.Now()
	m0, err := f.m.scrape()
	if err != nil {
		return s, err
	}
	p0, _ := f.m.procStats()
	prof := f.profileSlice(from, window)
	depth := maxQueueDepth(f.m, f.queue, from.Add(window))
	to := time.Now()
	m1, err := f.m.scrape()
	if err != nil {
		return s, err
	}
	p1, _ := f.m.procStats()
	if err := prof.wait(); err != nil {
		logf(f.cfg, "%s: profile: %v", f.label, err)
	}
	events, failed := f.rec.snapshot()
	a := analyseRefreshes(f.holders, events, from, to)
	s.WindowSeconds = to.Sub(from).Seconds()
	s.DueRefreshes = a.due
	if a.due > 0 {
		s.RefreshedBeforeExp = 100 * float64(a.beforeExpiry) / float64(a.due)
	}
	s.Lateness = distOf(a.lateness)
	s.RefreshFailures = failed
	s.WorkQueueDepthMaxObs = depth
	steadyCosts(&s, m0, m1, p0, p1)
	s.RSSBytes = p1.RSSBytes
	s.HeapBytes = m1.sum("go_memstats_heap_inuse_bytes")
	logf(f.cfg, "%s: %d due, %.1f%% before expiry, lateness p50 %.0fms p99 %.0fms max %.0fms, %.1f refreshes/s, %.2f writes/refresh",
		f.label, s.DueRefreshes, s.RefreshedBeforeExp, s.Lateness.P50, s.Lateness.P99, s.Lateness.Max, s.SteadyRefreshRate, s.APIWritesPerRefresh)
	return s, nil
}

// windowProfile is a CPU profile being taken of part of a window.
type windowProfile struct{ done chan error }

// profileSlice profiles the manager for a minute (at most the window) in the middle of the
// window, when f.profile and cfg.Profile ask for it: a whole window of perf samples would take
// long to report, and the middle is past the start's settling.
func (f fleet) profileSlice(from time.Time, window time.Duration) *windowProfile {
	if f.profile == "" || !f.cfg.Profile {
		return nil
	}
	length := min(window, time.Minute)
	start := from.Add((window - length) / 2)
	w := &windowProfile{done: make(chan error, 1)}
	go func() {
		time.Sleep(time.Until(start))
		prof := startProfile(f.m.pid(), filepath.Join(f.cfg.WorkDir, filepath.Base(f.profile)+".data"))
		time.Sleep(length)
		w.done <- prof.stop(f.profile)
	}()
	return w
}

// wait returns when the profile is written.
func (w *windowProfile) wait() error {
	if w == nil {
		return nil
	}
	return <-w.done
}

// maxQueueDepth waits until end and returns the deepest the named work queue was seen. Scrapes
// cost the manager CPU, so it looks only every 5s: the figure is a sample, not the true maximum.
func maxQueueDepth(m process, queue string, end time.Time) float64 {
	depth := 0.0
	for time.Now().Before(end) {
		time.Sleep(min(time.Until(end), 5*time.Second))
		if s, err := m.scrape(); err == nil {
			depth = max(depth, s.sum("workqueue_depth", `name="`+queue+`"`))
		}
	}
	return depth
}

// steadyCosts sets the steady window's refresh rate and what each refresh cost, from the
// manager's counters (m) and process figures (p) at its start (0) and end (1). Without a
// completed refresh there is nothing to divide by, and the costs stay zero.
func steadyCosts(s *Steady, m0, m1 metricSet, p0, p1 procStats) {
	refreshed := m1.sum("mcpproxy_token_refreshes_total", `result="success"`) - m0.sum("mcpproxy_token_refreshes_total", `result="success"`)
	s.SteadyRefreshRate = refreshed / s.WindowSeconds
	if refreshed > 0 {
		writes := m1.apiWrites() - m0.apiWrites()
		patches := m1.sum("mcpproxy_status_patches_total") - m0.sum("mcpproxy_status_patches_total")
		s.APIWritesPerRefresh = writes / refreshed
		s.StatusPatchesPerRef = patches / refreshed
		s.OtherWritesPerRef = (writes - patches) / refreshed
		s.ReconcilesPerRef = (m1.sum("controller_runtime_reconcile_total") - m0.sum("controller_runtime_reconcile_total")) / refreshed
		s.ReconcilesByController = map[string]float64{}
		for _, c := range []string{"upstreamserver", "upstreamcredential"} {
			l := `controller="` + c + `"`
			if n := m1.sum("controller_runtime_reconcile_total", l) - m0.sum("controller_runtime_reconcile_total", l); n > 0 {
				s.ReconcilesByController[c] = n / refreshed
			}
		}
		s.CPUSecondsPerRef = (p1.CPUSeconds - p0.CPUSeconds) / refreshed
	}
}

// coldStart restarts the manager in the middle of the cycle: it should reconnect every server
// and refresh only the tokens that fell due meanwhile.
func (r *nRun) coldStart() (err error) {
	logf(r.cfg, "N=%d: cold start", r.n)
	r.res.ShutdownSeconds = max(r.res.ShutdownSeconds, r.m.stop().Seconds())
	restart := time.Now()
	cpu0 := sampleCPU(nil) // the new manager's CPU counts from its start
	if r.m, err = startManager(r.margs); err != nil {
		return err
	}
	allUp, err := waitConnected(r.m, r.n, r.readyTimeout)
	if err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	r.res.ColdStartCPU = cpuUse(cpu0, sampleCPU(replicas{r.m}))
	r.res.ColdStartAllReadyS = allUp.Sub(restart).Seconds()
	r.coldStartBreakdown()
	r.res.ColdStartRefreshes, _, _ = r.a.rec.countBetween(restart, allUp)
	events, _ := r.a.rec.snapshot()
	r.res.ColdStartDue = dueBy(r.seeds, events, restart, allUp)
	logf(r.cfg, "N=%d: cold start: all connected after %.1fs with %d refreshes (%d were due); cores: %s", r.n,
		r.res.ColdStartAllReadyS, r.res.ColdStartRefreshes, r.res.ColdStartDue, coresCell(r.res.ColdStartCPU))
	return nil
}

// coldStartBreakdown reads, from the restarted manager (its counters began at the restart),
// where the cold start's reconciles spent their time and how many cores the manager used.
func (r *nRun) coldStartBreakdown() {
	m, err := r.m.scrape()
	if err != nil {
		return
	}
	r.res.ColdStartReconciles = m.sum("controller_runtime_reconcile_total", `controller="upstreamserver"`)
	r.res.ColdStartPhases = phaseMeans(metricSet{}, m, "upstreamserver")
	if n := m.sum("controller_runtime_reconcile_time_seconds_count", `controller="upstreamserver"`); n > 0 {
		r.res.ColdStartReconcileMean = m.sum("controller_runtime_reconcile_time_seconds_sum", `controller="upstreamserver"`) / n
	}
	if p, err := r.m.procStats(); err == nil && r.res.ColdStartAllReadyS > 0 {
		r.res.ColdStartCores = p.CPUSeconds / r.res.ColdStartAllReadyS
	}
}

// catchUp keeps the manager down until every token has expired, so that all N are due at once
// when it starts again: their refreshes, with the sessions to reopen, measure its throughput.
func (r *nRun) catchUp() (err error) {
	r.res.ShutdownSeconds = max(r.res.ShutdownSeconds, r.m.stop().Seconds())
	// The manager is down and the tokens take a while to expire: the time for the raw
	// pipeline on the fleet's servers, which must not share the machine with a manager.
	if err := r.fleetPipeline(); err != nil {
		logf(r.cfg, "N=%d: %v", r.n, err)
	}
	events, _ := r.a.rec.snapshot()
	wake := latestExpiry(r.seeds, events).Add(time.Second)
	logf(r.cfg, "N=%d: catch-up: manager down for %s, until every token has expired", r.n, time.Until(wake).Round(time.Second))
	time.Sleep(time.Until(wake))
	restart := time.Now()
	if r.m, err = startManager(r.margs); err != nil {
		return err
	}
	var prof *profiler
	if r.cfg.Profile {
		prof = startProfile(r.m.p.Pid(), filepath.Join(r.dir, "perf.data"))
	}
	allUp, err := waitConnected(r.m, r.n, r.readyTimeout)
	if err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	r.res.CatchUpAllReadyS = allUp.Sub(restart).Seconds()
	// Wait until every server has its refresh (connection may come first only if it did not).
	_ = waitFor(r.readyTimeout, func() bool { k, _, _ := r.a.rec.countBetween(restart, time.Now()); return k >= r.n })
	if err := prof.stop(filepath.Join(r.cfg.OutDir, fmt.Sprintf("profile-n%d.txt", r.n))); err != nil {
		logf(r.cfg, "N=%d: profile: %v", r.n, err)
	}
	r.catchUpThroughput(restart)
	return nil
}

// catchUpThroughput sets the catch-up's refresh rate, first refresh to last, and its ratio to
// the raw endpoint's; the restart is when the catch-up's refreshes may start counting.
func (r *nRun) catchUpThroughput(restart time.Time) {
	res := r.res
	k, first, last := r.a.rec.countBetween(restart, time.Now())
	if cm, err := r.m.scrape(); err == nil {
		catchUpBreakdown(res, cm, float64(k))
	}
	res.CatchUpRefreshes = k
	if k > 1 && last.After(first) {
		res.ControllerThroughput = float64(k) / last.Sub(first).Seconds()
	}
	res.ThroughputRatio = over(res.ControllerThroughput, res.RawThroughput)
	logf(r.cfg, "N=%d: catch-up: %d refreshes at %.1f/s (raw endpoint %.0f/s, ratio %.2f); all connected after %.1fs",
		r.n, k, res.ControllerThroughput, res.RawThroughput, res.ThroughputRatio, res.CatchUpAllReadyS)
}

// catchUpBreakdown says where the catch-up's reconciles spent their time (the manager started
// fresh, so its histograms hold the catch-up alone, plus startup).
func catchUpBreakdown(res *Result, s metricSet, refreshes float64) {
	mean := func(name string, labels ...string) float64 {
		if n := s.sum(name+"_count", labels...); n > 0 {
			return s.sum(name+"_sum", labels...) / n
		}
		return 0
	}
	res.CatchUpReconcileMeanS = mean("controller_runtime_reconcile_time_seconds", `controller="upstreamserver"`)
	res.CatchUpTokenCallMeanS = mean("mcpproxy_token_refresh_duration_seconds")
	res.CatchUpAPIRequests = map[string]float64{}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if n := s.sum("rest_client_requests_total", `method="`+method+`"`); n > 0 && refreshes > 0 {
			res.CatchUpAPIRequests[method] = n / refreshes
		}
	}
}

// waitConnected polls the manager's metrics until n servers hold a live session and none needs
// a login, and returns when that was first seen.
// A scrape of thousands of series costs the manager CPU (at N=5,000, polling every 200ms took
// 18% of it), so large runs poll less often: the figure gets coarser, not distorted.
func waitConnected(m process, n int, timeout time.Duration) (time.Time, error) {
	var at time.Time
	last := time.Time{}
	every := max(200*time.Millisecond, time.Duration(n)*time.Millisecond/2)
	var seen string // what the last scrape showed, for the error
	err := waitFor(timeout, func() bool {
		if time.Since(last) < every {
			return false
		}
		last = time.Now()
		s, err := m.scrape()
		if err != nil {
			seen = "the last scrape failed: " + err.Error()
			return false
		}
		connected, needLogin := s.countEqual("mcpproxy_server_connected", 1), s.countEqual("mcpproxy_server_authorization_required", 1)
		if connected >= n && needLogin == 0 {
			at = time.Now()
			return true
		}
		seen = fmt.Sprintf("%d of %d connected, %d needing a login", connected, n, needLogin)
		return false
	})
	if err != nil {
		err = fmt.Errorf("waiting for %d servers connected: %w (%s)", n, err, seen)
	}
	return at, err
}
