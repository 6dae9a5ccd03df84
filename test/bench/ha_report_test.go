package bench

import (
	"strings"
	"testing"
)

// TestHAReportShowsTheMedianBurst: the HA table shows a setup's median burst (of an even count,
// the slower middle one) with every burst's rate beside it, and a dash for what a setup did not
// measure.
func TestHAReportShowsTheMedianBurst(t *testing.T) {
	burst := func(rate float64, writes float64) HABurst {
		return HABurst{Servers: 1000, Burst: Burst{BurstRefreshes: 1000, BurstThroughput: rate},
			Costs: RefreshCosts{Refreshes: 1000, APIWritesPerRefresh: writes}}
	}
	rep := &HAReport{Setups: []HAResult{
		{HASetup: HASetup{storeSecrets, 3}, Leader: 1, Bursts: []HABurst{burst(140, 3), burst(90, 1), burst(120, 2)}},
		{HASetup: HASetup{storeBolt, 1}, Leader: -1, Bursts: []HABurst{burst(200, 5), burst(100, 4)}},
		{HASetup: HASetup{storeSecrets, 1}, Leader: 0},
	}}
	for name, c := range map[string]struct{ setup, want string }{
		"the median of three":          {"secrets ×3", "**120.0/s** (140, 90, 120)"},
		"its costs":                    {"secrets ×3", "**2.00**"},
		"the slower middle one of two": {"bolt ×1", "**100.0/s** (200, 100)"},
		"a dash when nothing measured": {"secrets ×1", "–"},
		"the leader, or no election":   {"bolt ×1", "no election"},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, r := range rep.Setups {
				if r.HASetup.String() != c.setup {
					continue
				}
				for _, row := range haRows(rep.Setups) {
					got = append(got, row.f(r))
				}
			}
			if !strings.Contains(strings.Join(got, " | "), c.want) {
				t.Errorf("%s: no cell holds %q: %q", c.setup, c.want, got)
			}
		})
	}
}

// TestHAReportLeavesOutWhatNoSetupMeasured: without a gateway (BENCH_GATEWAY_N=0) the table has
// no gateway rows, and keeps the burst's.
func TestHAReportLeavesOutWhatNoSetupMeasured(t *testing.T) {
	rep := &HAReport{Setups: []HAResult{{HASetup: HASetup{storeSecrets, 3}, Leader: 0,
		Bursts: []HABurst{{Servers: 10, Burst: Burst{BurstRefreshes: 10, BurstThroughput: 50}}}}}}
	md := haMarkdown(rep)
	if strings.Contains(md, "calls/s at") || !strings.Contains(md, "**50.0/s**") {
		t.Errorf("want the burst's rows and no gateway row:\n%s", md)
	}
}
