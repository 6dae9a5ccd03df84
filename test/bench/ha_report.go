package bench

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// haMarkdown is ha.md: one column per setup and one row per figure, then each setup's gateway
// table as the scale benchmark prints it.
func haMarkdown(rep *HAReport) string {
	var sb strings.Builder
	w := printf(func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) })
	w("# High availability: replicas and the Secrets store\n\n%s, source %s, on %s. Access-token lifetime %gs, "+
		"`--max-concurrent-reconciles=%d`. On Secrets the replicas run with `--leader-elect`: the leader reconciles, every "+
		"replica serves the gateway, and the clients' sessions are spread over the replicas round robin.\n\n",
		rep.Date, rep.Commit, rep.Machine, rep.TokenTTLSeconds, rep.MaxConcurrentReconciles)
	w("| |")
	for _, r := range rep.Setups {
		w(" %s |", r.HASetup)
	}
	w("\n|---|")
	for range rep.Setups {
		w("---|")
	}
	w("\n")
	for _, row := range haRows(rep.Setups) {
		cells := make([]string, len(rep.Setups))
		for i, r := range rep.Setups {
			cells[i] = row.f(r)
		}
		if !slices.ContainsFunc(cells, func(c string) bool { return c != "–" }) {
			continue // a figure no setup measured (BENCH_GATEWAY_N=0, …)
		}
		w("| %s | %s |\n", row.name, strings.Join(cells, " | "))
	}
	for _, r := range rep.Setups {
		if r.Problem != "" {
			w("\n%s did not complete: %s\n", r.HASetup, r.Problem)
		}
	}
	for _, r := range rep.Setups {
		w("\n## Gateway, %s\n\n", r.HASetup)
		gatewayTable(w, r.Gateway)
	}
	return sb.String()
}

// haRow is one figure of the HA table and how a setup's result shows it.
type haRow struct {
	name string
	f    func(HAResult) string
}

// haRows are the HA table's rows, in order: the gateway's (with the client counts measured),
// then the burst's.
func haRows(results []HAResult) []haRow {
	cs := clientCounts(results)
	most := 0
	if len(cs) > 0 {
		most = cs[len(cs)-1]
	}
	var names []string
	for _, c := range cs {
		names = append(names, fmt.Sprint(c))
	}
	counts := strings.Join(names, " / ")
	rows := []haRow{
		{"gateway: servers registered", gatewayFig(func(g GatewayResult) string { return fmt.Sprint(g.Servers) })},
		{fmt.Sprintf("`/servers/…/mcp` calls/s at %s clients (share of direct)", counts), targetFig(1, func(t GatewayTarget) string { return rateCells(t, cs) })},
		{fmt.Sprintf("`/mcp` (aggregated) calls/s at %s clients", counts), targetFig(2, func(t GatewayTarget) string { return rateCells(t, cs) })},
		{fmt.Sprintf("direct to the upstream, calls/s at %s clients", counts), targetFig(0, func(t GatewayTarget) string { return rateCells(t, cs) })},
		{"`/servers/…/mcp` latency p50 / p99 (added to direct)", targetFig(1, latencyCell)},
		{"`/mcp` latency p50 / p99 (added to direct)", targetFig(2, latencyCell)},
		{fmt.Sprintf("manager CPU per `/servers/…/mcp` call at %d clients (all replicas)", most), targetFig(1, func(t GatewayTarget) string {
			return na(t.ManagerCPUPerCallUs[most], fmt.Sprintf("%.0f µs", t.ManagerCPUPerCallUs[most]))
		})},
		{fmt.Sprintf("cores used while %d clients called `/servers/…/mcp`", most), targetFig(1, func(t GatewayTarget) string { return coresCell(t.CPU[most]) })},
		{"load average (1 / 5 / 15 min) at the gateway's start → end", gatewayFig(func(g GatewayResult) string {
			first, last := g.Targets[0].CPU[cs[0]], g.Targets[len(g.Targets)-1].CPU[most]
			return first.LoadStart + " → " + last.LoadEnd
		})},
		{"burst: servers; refreshes/s, the median burst (all bursts)", func(r HAResult) string {
			b := burstOf(r)
			if b == nil {
				return "–"
			}
			var each []string
			for _, x := range r.Bursts {
				each = append(each, fmt.Sprintf("%.0f", x.BurstThroughput))
			}
			return fmt.Sprintf("%s; **%.1f/s** (%s)", thousands(b.Servers), b.BurstThroughput, strings.Join(each, ", "))
		}},
		{"median burst: annotating took; mean reconcile", burstFig(func(b *HABurst) string {
			return fmt.Sprintf("%.1fs; %s", b.BurstAnnotateS, ms(1000*b.BurstReconcileMean))
		})},
		{"median burst: mean per reconcile by phase", burstFig(func(b *HABurst) string { return phasesCell(b.BurstPhases) })},
	}
	rows = append(rows, costRows("median burst", func(r HAResult) *RefreshCosts {
		if b := burstOf(r); b != nil {
			return &b.Costs
		}
		return nil
	})...)
	rows = append(rows, []haRow{
		{"scheduled refreshes: window; before expiry", steadyFig(func(s *HASteady) string {
			return fmt.Sprintf("%.0fs; %s", s.Steady.WindowSeconds, beforeExpiryCell(s.Steady))
		})},
		{"scheduled refreshes: lateness vs plan p50 / p99 / max", steadyFig(func(s *HASteady) string { return latenessCell(s.Steady) })},
		{"scheduled refreshes: completed/s", steadyFig(func(s *HASteady) string { return fmt.Sprintf("%.1f/s", s.Steady.SteadyRefreshRate) })},
	}...)
	rows = append(rows, costRows("scheduled refreshes", func(r HAResult) *RefreshCosts {
		if s := steadyOf(r); s != nil {
			return &s.Costs
		}
		return nil
	})...)
	return append(rows, []haRow{
		{"leader (replica)", func(r HAResult) string {
			if r.Leader < 0 {
				return "no election"
			}
			return fmt.Sprintf("manager-%d", r.Leader)
		}},
		{"shutdown (SIGTERM → exit), longest", func(r HAResult) string { return fmt.Sprintf("%.1fs", r.ShutdownSeconds) }},
	}...)
}

// costRows are the rows of what a window's refreshes cost, the window named by what; get is
// nil for a setup that did not measure it.
func costRows(what string, get func(HAResult) *RefreshCosts) []haRow {
	fig := func(f func(*RefreshCosts) string) func(HAResult) string {
		return func(r HAResult) string {
			if c := get(r); c != nil && c.Refreshes > 0 {
				return f(c)
			}
			return "–"
		}
	}
	return []haRow{
		{fmt.Sprintf("%s: **API writes per refresh** (status patch + token Secret + other)", what), fig(func(c *RefreshCosts) string {
			return fmt.Sprintf("**%.2f** (%.2f + %.2f + %.2f)", c.APIWritesPerRefresh, c.StatusPatchesPerRefresh,
				c.TokenSecretWritesPerRefresh, c.OtherWritesPerRefresh)
		})},
		{fmt.Sprintf("%s: writes the API server counted per refresh (less the harness's)", what), fig(func(c *RefreshCosts) string {
			return perKeyCell(c.APIServerWritesPerRefresh)
		})},
		{fmt.Sprintf("%s: GETs per refresh (all replicas)", what), fig(func(c *RefreshCosts) string { return fmt.Sprintf("%.2f", c.GETsPerRefresh) })},
		{fmt.Sprintf("%s: CPU per refresh, managers / kube-apiserver / etcd / harness", what), fig(func(c *RefreshCosts) string {
			per := func(s float64) string { return fmt.Sprintf("%.1f", 1000*s/c.Refreshes) }
			return fmt.Sprintf("%s / %s / %s / %s ms", per(c.CPU.managers()), per(c.CPU.Seconds["kube-apiserver"]),
				per(c.CPU.Seconds["etcd"]), per(c.CPU.Seconds["harness"]))
		})},
		{fmt.Sprintf("%s: cores used", what), fig(func(c *RefreshCosts) string { return coresCell(c.CPU) })},
		{fmt.Sprintf("%s: load average (1 / 5 / 15 min), start → end", what), fig(func(c *RefreshCosts) string {
			return c.CPU.LoadStart + " → " + c.CPU.LoadEnd
		})},
	}
}

// clientCounts are the client counts of the measured gateways, in order.
func clientCounts(results []HAResult) []int {
	seen := map[int]bool{}
	for _, r := range results {
		for _, t := range r.Gateway.Targets {
			for c := range t.CallsPerSecond {
				seen[c] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// gatewayFig shows a figure of the setup's gateway, a dash when it was not measured.
func gatewayFig(f func(GatewayResult) string) func(HAResult) string {
	return func(r HAResult) string {
		if !r.Gateway.Measured || len(r.Gateway.Targets) == 0 {
			return "–"
		}
		return f(r.Gateway)
	}
}

// targetFig shows a figure of the setup's i-th gateway target (0 direct, 1 /servers/…/mcp, 2 /mcp).
func targetFig(i int, f func(GatewayTarget) string) func(HAResult) string {
	return gatewayFig(func(g GatewayResult) string {
		if i >= len(g.Targets) {
			return "–"
		}
		return f(g.Targets[i])
	})
}

// burstOf is the setup's median burst by throughput (of an even count, the slower middle one),
// nil when none was measured; steadyOf is its window of scheduled refreshes, likewise.
func burstOf(r HAResult) *HABurst {
	var done []*HABurst
	for i := range r.Bursts {
		if r.Bursts[i].BurstRefreshes > 0 {
			done = append(done, &r.Bursts[i])
		}
	}
	if len(done) == 0 {
		return nil
	}
	slices.SortFunc(done, func(a, b *HABurst) int { return cmp.Compare(a.BurstThroughput, b.BurstThroughput) })
	return done[(len(done)-1)/2]
}

func steadyOf(r HAResult) *HASteady {
	if r.Steady == nil || r.Steady.Steady.WindowSeconds == 0 {
		return nil
	}
	return r.Steady
}

// burstFig shows a figure of the setup's burst, a dash when it was not measured; steadyFig
// likewise of its scheduled refreshes.
func burstFig(f func(*HABurst) string) func(HAResult) string {
	return func(r HAResult) string {
		if b := burstOf(r); b != nil {
			return f(b)
		}
		return "–"
	}
}

func steadyFig(f func(*HASteady) string) func(HAResult) string {
	return func(r HAResult) string {
		if s := steadyOf(r); s != nil {
			return f(s)
		}
		return "–"
	}
}

// rateCells is t's calls/s at each client count, with the share of direct where it has one.
func rateCells(t GatewayTarget, cs []int) string {
	var parts []string
	for _, c := range cs {
		cell := fmt.Sprintf("%.0f", t.CallsPerSecond[c])
		if r, ok := t.RatioToDirect[c]; ok {
			cell += fmt.Sprintf(" (%.0f%%)", 100*r)
		}
		parts = append(parts, cell)
	}
	return strings.Join(parts, " / ")
}

func latencyCell(t GatewayTarget) string {
	return fmt.Sprintf("%s / %s (%+.0f / %+.0f µs)", ms(t.Latency.P50), ms(t.Latency.P99), t.AddedP50Us, t.AddedP99Us)
}

// coresCell is the cores each role used in u (each manager's in parentheses) and how busy the
// whole machine was.
func coresCell(u CPUUse) string {
	if u.WindowSeconds <= 0 {
		return "not measured"
	}
	var each []string
	for _, role := range slices.Sorted(maps.Keys(u.Seconds)) {
		if strings.HasPrefix(role, "manager-") {
			each = append(each, fmt.Sprintf("%.2f", u.cores(role)))
		}
	}
	mgr := fmt.Sprintf("managers %.2f", u.managers()/u.WindowSeconds)
	if len(each) > 1 {
		mgr += " (" + strings.Join(each, " + ") + ")"
	}
	return fmt.Sprintf("%s, kube-apiserver %.2f, etcd %.2f, harness %.2f; machine %.0f%% busy",
		mgr, u.cores("kube-apiserver"), u.cores("etcd"), u.cores("harness"), u.MachineBusyPct)
}

// largestFirst is m's keys by value, the largest first (ties by key).
func largestFirst(m map[string]float64) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b))
	})
}

// perKeyCell lists a per-refresh figure by key, the largest first.
func perKeyCell(m map[string]float64) string {
	var parts []string
	for _, k := range largestFirst(m) {
		if m[k] >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
