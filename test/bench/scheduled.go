package bench

import (
	"time"
)

// Scheduled is what a scheduled burst measures: every server's refresh falling due at one
// moment because its token says so, with no API write to ask for it. The annotated burst
// needs one annotation patch per server, paced by the harness and queued at the same API
// server as the status patches; the scheduled one costs the API server what a refresh costs
// (one status patch), as the raw pipeline does, so its ratio to the raw pipeline is the fair one.
type Scheduled struct {
	ScheduledRefreshes     int     `json:"scheduledRefreshes"`
	ScheduledThroughput    float64 `json:"scheduledRefreshesPerSecond"`
	ScheduledSpreadS       float64 `json:"scheduledSpreadSeconds"`
	ScheduledReconcileMean float64 `json:"scheduledReconcileMeanSeconds"`
	ScheduledTokenCallMean float64 `json:"scheduledTokenCallMeanSeconds"`
	// ScheduledPhases is the mean seconds per reconcile in each phase, "queue" the work queue.
	ScheduledPhases map[string]float64 `json:"scheduledPhaseMeanSeconds,omitempty"`
	// ScheduledCPU is the CPU ms per refresh of each process over the window (cpushare.go).
	ScheduledCPU map[string]float64 `json:"scheduledCPUMsPerRefresh,omitempty"`
	// ScheduledAPIRequests is what the API server served per refresh over the window, by
	// "resource[/subresource] VERB", watch events included (observe.go).
	ScheduledAPIRequests map[string]float64 `json:"scheduledAPIRequestsPerRefresh,omitempty"`
}

// scheduledLead is how far ahead of the annotated burst the scheduled one is set: the
// annotated burst (about 100 refreshes/s here) must be over, every server holding a token
// lined up, before the first falls due. At most 15 minutes: the controller refreshes at most
// 5 minutes before expiry, which a longer line-up would cross.
func scheduledLead(n int) time.Duration {
	return min(10*time.Second+time.Duration(n)*15*time.Millisecond, 15*time.Minute)
}

// lineUpMargin is how long before due the scheduled burst's window opens: the jitter (at most
// a tenth of a quarter of a lined-up lifetime, lead/30) and the rounding of lifetimes to whole
// seconds. Tokens issued later are not lined up, and an annotated burst not over by then
// leaves no scheduled one.
func lineUpMargin(lead time.Duration) time.Duration { return lead/30 + 2*time.Second }

// lineUp makes every token issued from now on, until the window opens, fall due at due: the
// controller refreshes a token a quarter of its lifetime before expiry (the servers set no
// refreshBefore), so a token issued at t that lives 4/3 of (due - t) is due at due, less the
// jitter. Tokens issued in the window (the scheduled burst's own) live the fleet's usual TTL.
func lineUp(a *authServer, due time.Time, lead, ttl time.Duration) {
	a.SetAccessTokenTTL(func(now time.Time) time.Duration {
		if d := due.Sub(now); d > lineUpMargin(lead) {
			return 4 * d / 3
		}
		return ttl
	})
}

// runScheduled waits for the refreshes falling due at due (counted from a little before, for
// the jitter) until n have arrived, and measures them as runBurst does.
func runScheduled(a *authServer, m process, n int, due time.Time, lead, timeout time.Duration) (Scheduled, error) {
	var s Scheduled
	from := due.Add(-lineUpMargin(lead))
	before, err := m.scrape()
	if err != nil {
		return s, err
	}
	err = waitFor(timeout, func() bool { k, _, _ := a.rec.holdersBetween(from, time.Now()); return k >= n })
	k, first, last := a.rec.holdersBetween(from, time.Now())
	s.ScheduledRefreshes = k
	if k > 1 && last.After(first) {
		s.ScheduledSpreadS = last.Sub(first).Seconds()
		s.ScheduledThroughput = float64(k) / s.ScheduledSpreadS
	}
	if after, serr := m.scrape(); serr == nil {
		var b Burst
		burstMeans(&b, before, after)
		s.ScheduledReconcileMean, s.ScheduledTokenCallMean, s.ScheduledPhases = b.BurstReconcileMean, b.BurstTokenCallMean, b.BurstPhases
	}
	return s, err
}
