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
}

// scheduledLead is how far ahead of the annotated burst the scheduled one is set: the
// annotated burst (about 100 refreshes/s here) must be over, every server holding a token
// lined up, before the first falls due.
func scheduledLead(n int) time.Duration { return 10*time.Second + time.Duration(n)*15*time.Millisecond }

// lineUp makes every token issued from now on fall due at due: the controller refreshes a
// token a quarter of its lifetime before expiry (the servers set no refreshBefore), so a
// token issued at t that lives 4/3 of (due - t) is due at due, less the jitter (a tenth of
// that quarter). Tokens issued too close to due live the fleet's usual TTL.
func lineUp(a *authServer, due time.Time, ttl time.Duration) {
	a.SetAccessTokenTTL(func(now time.Time) time.Duration {
		if d := due.Sub(now); d > 4*time.Second {
			return 4 * d / 3
		}
		return ttl
	})
}

// runScheduled waits for the refreshes falling due at due (from a little before, for the
// jitter) until n have arrived, and measures them as runBurst does.
func runScheduled(a *authServer, m process, n int, due time.Time, lead, timeout time.Duration) (Scheduled, error) {
	var s Scheduled
	from := due.Add(-(lead/30 + 2*time.Second)) // the jitter (at most lead/30), and rounding
	if d := time.Until(from); d > 0 {
		time.Sleep(d - min(d, time.Second))
	}
	before, err := m.scrape()
	if err != nil {
		return s, err
	}
	err = waitFor(timeout, func() bool { k, _, _ := a.rec.countBetween(from, time.Now()); return k >= n })
	k, first, last := a.rec.countBetween(from, time.Now())
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
