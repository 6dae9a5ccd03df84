package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// burst annotates every server with a refresh request at once and measures how fast the
// controller works through them with live sessions: refresh, save, status; no reconnect.
func burst(cfg Config, res *Result, c client.Client, a *authServer, m *managerProc, n int, dir string, timeout time.Duration) error {
	if _, err := waitConnected(m, n, timeout); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // let the catch-up's status writes settle
	before, err := m.scrape()
	if err != nil {
		return err
	}
	var prof *profiler
	if cfg.Profile {
		prof = startProfile(m.p.Pid(), filepath.Join(dir, "perf-burst.data"))
	}
	start := time.Now()
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`,
		mcpv1alpha1.AnnotationRefreshRequestedAt, start.UTC().Format(time.RFC3339Nano))))
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
	res.BurstAnnotateS = time.Since(start).Seconds()
	err = waitFor(timeout, func() bool { k, _, _ := a.rec.countBetween(start, time.Now()); return k >= n })
	if perr := prof.stop(filepath.Join(cfg.OutDir, fmt.Sprintf("profile-n%d-burst.txt", n))); perr != nil {
		logf(cfg, "N=%d: profile: %v", n, perr)
	}
	k, first, last := a.rec.countBetween(start, time.Now())
	res.BurstRefreshes = k
	if k > 1 && last.After(first) {
		res.BurstThroughput = float64(k) / last.Sub(first).Seconds()
	}
	if res.RawThroughput > 0 {
		res.BurstRatio = res.BurstThroughput / res.RawThroughput
	}
	if after, serr := m.scrape(); serr == nil {
		mean := func(name string, labels ...string) float64 {
			if d := after.sum(name+"_count", labels...) - before.sum(name+"_count", labels...); d > 0 {
				return (after.sum(name+"_sum", labels...) - before.sum(name+"_sum", labels...)) / d
			}
			return 0
		}
		res.BurstReconcileMean = mean("controller_runtime_reconcile_time_seconds", `controller="upstreamserver"`)
		res.BurstTokenCallMean = mean("mcpproxy_token_refresh_duration_seconds")
	}
	logf(cfg, "N=%d: burst: %d refreshes at %.1f/s (ratio to raw %.3f; annotating took %.1fs; mean reconcile %.0fms, token call %.0fms)",
		n, k, res.BurstThroughput, res.BurstRatio, res.BurstAnnotateS, 1000*res.BurstReconcileMean, 1000*res.BurstTokenCallMean)
	return err
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
func waitConnected(m *managerProc, n int, timeout time.Duration) (time.Time, error) {
	var at time.Time
	last := time.Time{}
	every := max(200*time.Millisecond, time.Duration(n)*time.Millisecond/2)
	err := waitFor(timeout, func() bool {
		if time.Since(last) < every {
			return false
		}
		last = time.Now()
		s, err := m.scrape()
		if err != nil {
			return false
		}
		if s.countEqual("mcpproxy_server_connected", 1) >= n && s.countEqual("mcpproxy_server_authorization_required", 1) == 0 {
			at = time.Now()
			return true
		}
		return false
	})
	return at, err
}
