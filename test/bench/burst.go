package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// Burst is what a burst measures: every server asked to refresh at once (annotation) while
// its session is live.
type Burst struct {
	BurstRefreshes     int     `json:"burstRefreshes"`
	BurstThroughput    float64 `json:"burstRefreshesPerSecond"`
	BurstAnnotateS     float64 `json:"burstAnnotateSeconds"`
	BurstReconcileMean float64 `json:"burstReconcileMeanSeconds"`
	BurstTokenCallMean float64 `json:"burstTokenCallMeanSeconds"`
	// BurstPhases is the mean seconds per burst reconcile spent in each phase (the manager's
	// mcpproxy_reconcile_phase_duration_seconds), and "queue" the mean wait in the work queue.
	BurstPhases map[string]float64 `json:"burstPhaseMeanSeconds,omitempty"`
}

// burst measures the fleet's burst (runBurst), profiled when cfg.Profile, and compares it with
// the raw figures.
func burst(cfg Config, res *Result, c client.Client, kube *rest.Config, a *authServer, m process, n int, dir string, timeout time.Duration) error {
	var prof *profiler
	var due time.Time
	lead := scheduledLead(n)
	b, err := runBurst(c, a, m, n, timeout, func(i int) {
		switch i {
		case 0:
			// The burst's tokens line up the scheduled burst that follows.
			due = time.Now().Add(lead)
			lineUp(a, due, lead, cfg.TokenTTL)
			if cfg.Profile {
				prof = startProfile(m.pid(), filepath.Join(dir, "perf-burst.data"))
			}
		case 1:
			if perr := prof.stop(filepath.Join(cfg.OutDir, fmt.Sprintf("profile-n%d-burst.txt", n))); perr != nil {
				logf(cfg, "N=%d: profile: %v", n, perr)
			}
		}
	})
	res.Burst = b
	res.BurstRatio, res.BurstPipelineRat = over(b.BurstThroughput, res.RawThroughput), over(b.BurstThroughput, res.RawPipeline)
	logf(cfg, "N=%d: burst: %d refreshes at %.1f/s (ratio to raw %.3f, to the raw pipeline %.3f; annotating took %.1fs; mean reconcile %.0fms, token call %.0fms; phases %s)",
		n, b.BurstRefreshes, b.BurstThroughput, res.BurstRatio, res.BurstPipelineRat, b.BurstAnnotateS, 1000*b.BurstReconcileMean, 1000*b.BurstTokenCallMean, phasesCell(b.BurstPhases))
	defer a.SetAccessTokenTTL(nil)
	if err != nil {
		return err
	}
	if time.Now().After(due.Add(-lineUpMargin(lead))) {
		logf(cfg, "N=%d: scheduled burst: skipped, the annotated burst outlasted its lead of %s", n, lead)
		return nil
	}
	return scheduledBurst(cfg, res, kube, a, m, n, dir, due, lead, timeout)
}

// scheduledBurst measures the scheduled burst (runScheduled) that the annotated one lined up
// to fall due at due, with the CPU each process spent on it, the API server's requests, and the
// API server's and the manager's profiles, and compares it with the raw pipelines.
func scheduledBurst(cfg Config, res *Result, kube *rest.Config, a *authServer, m process, n int, dir string, due time.Time, lead, timeout time.Duration) error {
	// The window opens a little before due (the jitter); it is measured from then until the
	// last refresh.
	if d := time.Until(due.Add(-lineUpMargin(lead))); d > 0 {
		time.Sleep(d - min(d, time.Second))
	}
	// The profiles cover the window's opening and the refreshes, at about 200/s.
	window := lineUpMargin(lead) + time.Duration(n)*5*time.Millisecond
	apiProf, managerProf := profileAPIServer(cfg, kube, window), profileManager(cfg, m, window)
	cpuBefore := sampleCPU(asReplicas(m))
	apiBefore, _ := apiServerScrape(kube)
	sb, err := runScheduled(a, m, n, due, lead, timeout)
	sb.ScheduledCPU = cpuPerRefresh(cpuUse(cpuBefore, sampleCPU(asReplicas(m))), sb.ScheduledRefreshes)
	if apiAfter, aerr := apiServerScrape(kube); aerr == nil {
		sb.ScheduledAPIRequests = requestsPerRefresh(apiBefore, apiAfter, sb.ScheduledRefreshes)
	}
	apiProf.write(cfg, dir, fmt.Sprintf("apiserver-n%d-scheduled", n))
	managerProf.write(cfg, dir, fmt.Sprintf("manager-n%d-scheduled", n))
	res.Scheduled = sb
	res.ScheduledPipelineRat = over(sb.ScheduledThroughput, res.RawPipeline)
	res.ScheduledFleetPipelineRat = over(sb.ScheduledThroughput, res.RawPipelineFleet)
	logf(cfg, "N=%d: scheduled burst: %d refreshes at %.1f/s over %.1fs (ratio to the raw pipeline %.3f, to it on the fleet's servers %.3f; mean reconcile %.0fms; phases %s; CPU per refresh %s; API server requests per refresh %s)",
		n, sb.ScheduledRefreshes, sb.ScheduledThroughput, sb.ScheduledSpreadS, res.ScheduledPipelineRat, res.ScheduledFleetPipelineRat, 1000*sb.ScheduledReconcileMean, phasesCell(sb.ScheduledPhases), cpuCell(sb.ScheduledCPU), perKeyCell(sb.ScheduledAPIRequests))
	return err
}

// over is a ÷ b, or 0 when b was not measured.
func over(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// runBurst annotates every server with a refresh request at once and measures how fast the
// controller works through them with live sessions: refresh, save, status; no reconnect.
// mark(0) is called right before the first annotation, mark(1) once every server has
// refreshed (or the wait timed out).
func runBurst(c client.Client, a *authServer, m process, n int, timeout time.Duration, mark func(int)) (Burst, error) {
	var b Burst
	if _, err := waitConnected(m, n, timeout); err != nil {
		return b, err
	}
	time.Sleep(2 * time.Second) // let earlier status writes settle
	before, err := m.scrape()
	if err != nil {
		return b, err
	}
	mark(0)
	start := time.Now()
	if err := requestRefreshes(c, n, start); err != nil {
		return b, err
	}
	b.BurstAnnotateS = time.Since(start).Seconds()
	err = waitFor(timeout, func() bool { k, _, _ := a.rec.holdersBetween(start, time.Now()); return k >= n })
	mark(1)
	k, first, last := a.rec.holdersBetween(start, time.Now())
	b.BurstRefreshes = k
	if k > 1 && last.After(first) {
		b.BurstThroughput = float64(k) / last.Sub(first).Seconds()
	}
	if after, serr := m.scrape(); serr == nil {
		burstMeans(&b, before, after)
	}
	return b, err
}

// requestRefreshes sets the refresh-requested-at annotation of all n servers to at, from 16
// clients at once: one at a time, the annotating would pace the burst it is meant to start.
func requestRefreshes(c client.Client, n int, at time.Time) error {
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`,
		mcpv1alpha1.AnnotationRefreshRequestedAt, at.UTC().Format(time.RFC3339Nano))))
	idx := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 16 {
		wg.Go(func() {
			for i := range idx {
				us := &mcpv1alpha1.UpstreamServer{ObjectMeta: metav1.ObjectMeta{Name: serverName(i), Namespace: benchNamespace}}
				if err := c.Patch(context.Background(), us, patch); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d refresh requests failed", failed.Load())
	}
	return nil
}

// burstMeans sets the burst's mean reconcile and token-call times from the difference of two
// scrapes: the manager's histograms also hold everything it did before the burst.
func burstMeans(res *Burst, before, after metricSet) {
	mean := func(name string, labels ...string) float64 {
		if d := after.sum(name+"_count", labels...) - before.sum(name+"_count", labels...); d > 0 {
			return (after.sum(name+"_sum", labels...) - before.sum(name+"_sum", labels...)) / d
		}
		return 0
	}
	res.BurstReconcileMean = mean("controller_runtime_reconcile_time_seconds", `controller="upstreamserver"`)
	res.BurstTokenCallMean = mean("mcpproxy_token_refresh_duration_seconds")
	res.BurstPhases = phaseMeans(before, after, "upstreamserver")
}

// reconcilePhases are the phases the manager's histogram names, in a reconcile's order.
var reconcilePhases = []string{"read", "plan", "token_call", "save", "session", "discover", "other_steps", "credentials", "status_patch", "events"}

// phaseMeans is the mean seconds per reconcile of controller spent in each phase between two
// scrapes, and under "queue" the mean wait in its work queue.
func phaseMeans(before, after metricSet, controller string) map[string]float64 {
	reconciles := after.sum("controller_runtime_reconcile_total", `controller="`+controller+`"`) -
		before.sum("controller_runtime_reconcile_total", `controller="`+controller+`"`)
	if reconciles <= 0 {
		return nil
	}
	delta := func(name string, labels ...string) float64 {
		return after.sum(name, labels...) - before.sum(name, labels...)
	}
	out := map[string]float64{}
	for _, p := range reconcilePhases {
		if d := delta("mcpproxy_reconcile_phase_duration_seconds_sum", `controller="`+controller+`"`, `phase="`+p+`"`); d > 0 {
			out[p] = d / reconciles
		}
	}
	if n := delta("workqueue_queue_duration_seconds_count", `name="`+controller+`"`); n > 0 {
		out["queue"] = delta("workqueue_queue_duration_seconds_sum", `name="`+controller+`"`) / n
	}
	return out
}

// phasesCell prints phase means in milliseconds, in a reconcile's order, the queue first.
func phasesCell(p map[string]float64) string {
	if len(p) == 0 {
		return "n/a"
	}
	var parts []string
	for _, name := range append([]string{"queue"}, reconcilePhases...) {
		if v, ok := p[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", name, ms(1000*v)))
		}
	}
	return strings.Join(parts, ", ")
}
