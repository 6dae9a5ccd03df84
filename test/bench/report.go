package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Render rewrites results.md and results.png in dir from its results.json, credentials.md
// from credentials.json and ha.md from ha.json, e.g. after the report's layout changed, without
// measuring again. Any of the files may be missing, not all.
func Render(dir string) error {
	rendered := 0
	for _, r := range []struct {
		name  string
		write func(b []byte) error
	}{
		{"results.json", renderWith(func(rep *Report) error { return writeReport(dir, rep) })},
		{"credentials.json", renderWith(func(rep *Report) error { return writeReport(dir, rep) })},
		{"ha.json", renderWith(func(rep *HAReport) error { return writeHAReport(dir, rep) })},
	} {
		b, err := os.ReadFile(filepath.Join(dir, r.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := r.write(b); err != nil {
			return fmt.Errorf("rendering %s: %w", r.name, err)
		}
		rendered++
	}
	if rendered == 0 {
		return fmt.Errorf("%s holds none of results.json, credentials.json and ha.json", dir)
	}
	return nil
}

// renderWith reads a report of type R and writes it with write.
func renderWith[R any](write func(*R) error) func([]byte) error {
	return func(b []byte) error {
		var rep R
		if err := json.Unmarshal(b, &rep); err != nil {
			return err
		}
		return write(&rep)
	}
}

// writeReport writes results.json, results.md and results.png into dir; a report of the
// per-subject run alone (no N) goes to credentials.json and credentials.md instead, so that it
// leaves the server fleet's figures alone.
func writeReport(dir string, rep *Report) error {
	if len(rep.Results) == 0 {
		return writeJSONAndMarkdown(dir, "credentials", rep, markdown(rep))
	}
	if err := writeJSONAndMarkdown(dir, "results", rep, markdown(rep)); err != nil {
		return err
	}
	return chart(filepath.Join(dir, "results.png"), rep)
}

// writeJSONAndMarkdown writes v as dir/name.json and md as dir/name.md.
func writeJSONAndMarkdown(dir, name string, v any, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), []byte(md), 0o644)
}

// printf appends formatted text to the report being written.
type printf func(format string, args ...any)

// markdown is results.md: the table of every N, why an N did not complete, the gateway, and
// the per-subject credentials. A report without N (credentials.md) has the last only.
func markdown(rep *Report) string {
	var sb strings.Builder
	w := printf(func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) })
	if len(rep.Results) == 0 {
		w("# Scale benchmark: per-subject credentials\n\n%s, source %s, on %s. No server fleet in this run (`BENCH_N=0`).\n\n",
			rep.Date, rep.Commit, rep.Machine)
		credentialsSection(w, rep.Credentials)
		return sb.String()
	}
	w("# Scale benchmark\n\n%s, source %s, on %s. Access-token lifetime %gs, steady window %g lifetimes, "+
		"`--max-concurrent-reconciles=%d`.\n\n", rep.Date, rep.Commit, rep.Machine, rep.TokenTTLSeconds, rep.Lifetimes, rep.MaxConcurrentReconciles)
	resultsTable(w, rep.Results)
	for _, r := range rep.Results {
		if r.Problem != "" {
			w("\nN=%d did not complete: %s\n", r.N, r.Problem)
		}
	}
	w("\n## Gateway\n\n")
	gatewayTable(w, rep.Gateway)
	if rep.Credentials != nil {
		w("\n")
		credentialsSection(w, rep.Credentials)
	}
	return sb.String()
}

// credentialsSection is the per-subject run: what it was, and one column of figures.
func credentialsSection(w printf, c *CredentialResult) {
	w("## Per-subject credentials\n\n")
	if c == nil {
		w("Not measured (`BENCH_CREDENTIALS=0`).\n")
		return
	}
	w("%s UpstreamCredentials over %d PerSubject servers, one upstream user each, every one logged in through a credential "+
		"hand-over; access-token lifetime %gs, steady window %g lifetimes, `--max-concurrent-reconciles=%d`. A credential keeps "+
		"no live session: each login and each refresh is proven by one MCP request.\n\n",
		thousands(c.Credentials), c.Servers, c.TokenTTLSeconds, c.Lifetimes, c.MaxConcurrentRecons)
	w("| | target | %s credentials over %d servers |\n|---|---|---|\n", thousands(c.Credentials), c.Servers)
	measured := c.Completed || c.WindowSeconds > 0
	for _, row := range credentialRows {
		v := "–"
		if measured || row.always {
			v = row.f(c)
		}
		w("| %s | %s | %s |\n", row.name, row.target, v)
	}
	if c.Problem != "" {
		w("\nThe per-subject run did not complete: %s\n", c.Problem)
	}
}

// credentialRow is one figure of the credentials table; always shows it even when the run did
// not reach its steady window (the seeding figures).
type credentialRow struct {
	name, target string
	always       bool
	f            func(*CredentialResult) string
}

// credentialRows are the credentials table's rows, in the order the report shows them.
var credentialRows = []credentialRow{
	{"refreshed before expiry", "100%", false, func(c *CredentialResult) string { return beforeExpiryCell(c.Steady) }},
	{"lateness vs plan p50 / p99 / max", "", false, func(c *CredentialResult) string { return latenessCell(c.Steady) }},
	{"steady refresh rate: completed (needed)", "", false, func(c *CredentialResult) string {
		return fmt.Sprintf("%.1f/s (%.1f/s)", c.SteadyRefreshRate, c.DemandPerSecond)
	}},
	{"refresh failures at the token endpoint", "0", false, func(c *CredentialResult) string { return fmt.Sprint(c.RefreshFailures) }},
	{"API writes per refresh", "≤ 1.1", false, func(c *CredentialResult) string { return writesCell(c.Steady) }},
	{"reconciles per refresh (credential + server)", "", false, func(c *CredentialResult) string {
		return fmt.Sprintf("%.2f (%.2f + %.2f)", c.ReconcilesPerRef, c.ReconcilesByController["upstreamcredential"],
			c.ReconcilesByController["upstreamserver"])
	}},
	{"CPU per refresh", "", false, func(c *CredentialResult) string { return fmt.Sprintf("%.1f ms", 1000*c.CPUSecondsPerRef) }},
	{"max work-queue depth seen", "", false, func(c *CredentialResult) string { return fmt.Sprintf("%.0f", c.WorkQueueDepthMaxObs) }},
	{"hand-over → Ready p50 / p99", "", true, func(c *CredentialResult) string {
		return na(float64(c.HandOverToReady.Count), fmt.Sprintf("%s / %s", ms(c.HandOverToReady.P50), ms(c.HandOverToReady.P99)))
	}},
	{"seeding: first create → all Ready", "", true, func(c *CredentialResult) string {
		return na(c.SeedSeconds, fmt.Sprintf("%.1fs", c.SeedSeconds))
	}},
	{"manager before → after: RSS", "", false, func(c *CredentialResult) string {
		return fmt.Sprintf("%s → %s (peak %s)", mb(c.Before.RSSBytes), mb(c.After.RSSBytes), mb(c.After.PeakRSSBytes))
	}},
	{"manager before → after: Go heap in use / live heap", "", false, func(c *CredentialResult) string {
		return fmt.Sprintf("%s → %s / %s", mb(c.Before.HeapInuseBytes), mb(c.After.HeapInuseBytes),
			na(c.After.LiveHeapBytes, mb(c.Before.LiveHeapBytes)+" → "+mb(c.After.LiveHeapBytes)))
	}},
	{"**per credential: RSS / heap in use / live heap**", "", false, func(c *CredentialResult) string {
		return fmt.Sprintf("**%.1f KiB / %.1f KiB** / %s", c.RSSPerCredentialBytes/1024, c.HeapPerCredentialBytes/1024,
			na(c.LivePerCredentialBytes, fmt.Sprintf("%.1f KiB", c.LivePerCredentialBytes/1024)))
	}},
	{"manager shutdown (SIGTERM → exit)", "", false, func(c *CredentialResult) string { return fmt.Sprintf("%.2fs", c.ShutdownSeconds) }},
}

// beforeExpiryCell, latenessCell and writesCell show a steady window's figures, the same for
// servers and credentials.
func beforeExpiryCell(s Steady) string {
	return fmt.Sprintf("%.1f%% (%s due)", s.RefreshedBeforeExp, thousands(s.DueRefreshes))
}

func latenessCell(s Steady) string {
	return fmt.Sprintf("%s / %s / %s", ms(s.Lateness.P50), ms(s.Lateness.P99), ms(s.Lateness.Max))
}

func writesCell(s Steady) string {
	return fmt.Sprintf("%.2f (status %.2f, other %.2f)", s.APIWritesPerRefresh, s.StatusPatchesPerRef, s.OtherWritesPerRef)
}

// thousands writes n with thousands separators: 10,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// resultsTable writes one column per N and one row per figure of resultRows. An N that
// measured nothing (it failed before its steady window and its raw endpoint) shows a dash, so
// that zeros are not read as figures.
func resultsTable(w printf, results []Result) {
	w("| | target |")
	for _, r := range results {
		w(" N=%d |", r.N)
	}
	w("\n|---|---|")
	for range results {
		w("---|")
	}
	w("\n")
	for _, row := range resultRows {
		w("| %s | %s |", row.name, row.target)
		for _, r := range results {
			if !r.Completed && r.WindowSeconds == 0 && r.RawThroughput == 0 {
				w(" – |")
				continue
			}
			w(" %s |", row.f(r))
		}
		w("\n")
	}
}

// resultRow is one figure of the results table: its name, its target if it has one, and how an
// N's result shows it.
type resultRow struct {
	name, target string
	f            func(Result) string
}

// resultRows are the results table's rows, in the order the report shows them.
var resultRows = []resultRow{
	{"refreshed before expiry", "100%", func(r Result) string { return beforeExpiryCell(r.Steady) }},
	{"lateness vs plan p50 / p99 / max", "", func(r Result) string { return latenessCell(r.Steady) }},
	{"steady refresh rate (completed; demand is N/45s)", "", func(r Result) string { return fmt.Sprintf("%.1f/s", r.SteadyRefreshRate) }},
	{"controller refresh throughput, burst (live sessions)", "", func(r Result) string {
		return na(r.BurstThroughput, fmt.Sprintf("%.1f/s", r.BurstThroughput))
	}},
	{"controller refresh throughput, catch-up (after restart, reconnecting)", "", func(r Result) string {
		return na(r.ControllerThroughput, fmt.Sprintf("%.1f/s", r.ControllerThroughput))
	}},
	{"raw token endpoint throughput", "", func(r Result) string {
		return fmt.Sprintf("%.0f/s (%d clients)", r.RawThroughput, r.RawWorkers)
	}},
	{"raw pipeline throughput (token request, fsync'd save, status patch)", "", func(r Result) string {
		return na(r.RawPipeline, fmt.Sprintf("%.0f/s (%d workers)", r.RawPipeline, r.RawWorkers))
	}},
	{"**controller ÷ raw pipeline** (burst)", "≥ 0.8", func(r Result) string {
		return na(r.BurstPipelineRat, fmt.Sprintf("**%.2f**", r.BurstPipelineRat))
	}},
	{"raw pipeline on copies of the fleet's servers (object size: fleet's; bare)", "", func(r Result) string {
		return na(r.RawPipelineFleet, fmt.Sprintf("%.0f/s (%d workers; %d; %d bytes)", r.RawPipelineFleet, r.RawWorkers, r.FleetObjectBytes, r.RawObjectBytes))
	}},
	{"**controller ÷ raw pipeline** (scheduled burst: all due at once, no API write to ask)", "≥ 0.8", func(r Result) string {
		return na(r.ScheduledPipelineRat, fmt.Sprintf("**%.2f** (%.1f/s)", r.ScheduledPipelineRat, r.ScheduledThroughput))
	}},
	{"**controller ÷ raw pipeline on the fleet's servers** (scheduled burst)", "≥ 0.8", func(r Result) string {
		return na(r.ScheduledFleetPipelineRat, fmt.Sprintf("**%.2f**", r.ScheduledFleetPipelineRat))
	}},
	{"scheduled burst: refreshes over; mean reconcile / token call", "", func(r Result) string {
		return na(r.ScheduledThroughput, fmt.Sprintf("%d over %.1fs; %s / %s", r.ScheduledRefreshes, r.ScheduledSpreadS,
			ms(1000*r.ScheduledReconcileMean), ms(1000*r.ScheduledTokenCallMean)))
	}},
	{"scheduled burst: mean per reconcile by phase", "", func(r Result) string { return phasesCell(r.ScheduledPhases) }},
	{"CPU ms per refresh by process: raw pipeline", "", func(r Result) string { return cpuCell(r.RawPipelineCPU) }},
	{"CPU ms per refresh by process: raw pipeline on the fleet's servers", "", func(r Result) string { return cpuCell(r.RawPipelineFleetCPU) }},
	{"CPU ms per refresh by process: scheduled burst", "", func(r Result) string { return cpuCell(r.ScheduledCPU) }},
	{"scheduled burst: API server requests per refresh (any client)", "", func(r Result) string {
		return na(float64(len(r.ScheduledAPIRequests)), perKeyCell(r.ScheduledAPIRequests))
	}},
	{"controller ÷ raw token endpoint (burst; catch-up)", "", func(r Result) string {
		return na(r.BurstRatio, fmt.Sprintf("%.1f%%", 100*r.BurstRatio)) + "; " + na(r.ThroughputRatio, fmt.Sprintf("%.1f%%", 100*r.ThroughputRatio))
	}},
	{"burst: mean reconcile / token call; annotating took", "", func(r Result) string {
		return na(r.BurstReconcileMean, fmt.Sprintf("%s / %s; %.1fs", ms(1000*r.BurstReconcileMean), ms(1000*r.BurstTokenCallMean), r.BurstAnnotateS))
	}},
	{"burst: mean per reconcile by phase", "", func(r Result) string { return phasesCell(r.BurstPhases) }},
	{"API writes per refresh", "≤ 1.1", func(r Result) string { return writesCell(r.Steady) }},
	{"reconciles per refresh", "", func(r Result) string { return fmt.Sprintf("%.2f", r.ReconcilesPerRef) }},
	{"hand-over → Ready p50 / p99", "", func(r Result) string {
		return fmt.Sprintf("%s / %s", ms(r.HandOverToReady.P50), ms(r.HandOverToReady.P99))
	}},
	{"cold start: all connected", "", func(r Result) string { return fmt.Sprintf("%.1fs", r.ColdStartAllReadyS) }},
	{"cold start: refreshes (of them due)", "only due", func(r Result) string {
		return fmt.Sprintf("%d (%d due)", r.ColdStartRefreshes, r.ColdStartDue)
	}},
	{"cold start: reconciles; mean reconcile; manager cores", "", func(r Result) string {
		return na(r.ColdStartReconciles, fmt.Sprintf("%.0f; %s; %.2f", r.ColdStartReconciles, ms(1000*r.ColdStartReconcileMean), r.ColdStartCores))
	}},
	{"cold start: cores by process until all connected", "", func(r Result) string { return coresCell(r.ColdStartCPU) }},
	{"cold start: mean per reconcile by phase", "", func(r Result) string { return phasesCell(r.ColdStartPhases) }},
	{"catch-up after all expired: all connected", "", func(r Result) string {
		return na(r.CatchUpAllReadyS, fmt.Sprintf("%.1fs", r.CatchUpAllReadyS))
	}},
	{"RSS / Go heap in use", "", func(r Result) string {
		return fmt.Sprintf("%.0f / %.0f MiB", r.RSSBytes/(1<<20), r.HeapBytes/(1<<20))
	}},
	{"per server: RSS / heap", "", func(r Result) string {
		return fmt.Sprintf("%.1f / %.1f KiB", r.RSSPerServerBytes/1024, r.HeapPerServerBytes/1024)
	}},
	{"CPU per refresh", "", func(r Result) string { return fmt.Sprintf("%.1f ms", 1000*r.CPUSecondsPerRef) }},
	{"catch-up: mean reconcile / token call", "", func(r Result) string {
		return na(r.CatchUpReconcileMeanS, fmt.Sprintf("%s / %s", ms(1000*r.CatchUpReconcileMeanS), ms(1000*r.CatchUpTokenCallMeanS)))
	}},
	{"catch-up: API requests per refresh", "", func(r Result) string {
		var parts []string
		for _, v := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if n, ok := r.CatchUpAPIRequests[v]; ok {
				parts = append(parts, fmt.Sprintf("%s %.2f", v, n))
			}
		}
		return strings.Join(parts, ", ")
	}},
	{"manager shutdown (SIGTERM → exit), longest", "", func(r Result) string { return fmt.Sprintf("%.1fs", r.ShutdownSeconds) }},
	{"max work-queue depth seen", "", func(r Result) string { return fmt.Sprintf("%.0f", r.WorkQueueDepthMaxObs) }},
}

// gatewayTable writes the gateway's figures, or the note saying why they were not measured.
// Targets after the first (the upstream called directly) are shown against that first one.
func gatewayTable(w printf, g GatewayResult) {
	if !g.Measured {
		w("%s\n", g.Note)
		return
	}
	var cs []int
	for c := range g.Targets[0].CallsPerSecond {
		cs = append(cs, c)
	}
	slices.Sort(cs) // map order is random; the columns must not be
	w("`tools/call echo` with %d servers registered; latency of sequential calls by one client.\n\n", g.Servers)
	w("| target | p50 | p99 | added p50 / p99 | target |")
	for _, c := range cs {
		w(" calls/s, %d clients |", c)
	}
	w("\n|---|---|---|---|---|")
	for range cs {
		w("---|")
	}
	w("\n")
	for i, t := range g.Targets {
		added, target := "", ""
		if i > 0 {
			added = fmt.Sprintf("%+.0f / %+.0f µs", t.AddedP50Us, t.AddedP99Us)
			target = "p99 < +2 ms, ≥ 80%"
		}
		w("| %s | %s | %s | %s | %s |", t.Name, ms(t.Latency.P50), ms(t.Latency.P99), added, target)
		for _, c := range cs {
			if i == 0 {
				w(" %.0f |", t.CallsPerSecond[c])
			} else {
				w(" %.0f (%.0f%%) |", t.CallsPerSecond[c], 100*t.RatioToDirect[c])
			}
		}
		w("\n")
	}
}

// na shows "not measured" for a figure a run did not reach.
func na(v float64, s string) string {
	if v == 0 {
		return "not measured"
	}
	return s
}

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// chart draws servers against refresh throughput (left) and lateness (right).
func chart(path string, rep *Report) error {
	var done []Result // the Ns that measured something; a failed N has no point to draw
	for _, r := range rep.Results {
		if r.WindowSeconds > 0 || r.RawThroughput > 0 {
			done = append(done, r)
		}
	}
	thr, err := logPlot("Refresh throughput", "refreshes/s (log scale)", done, throughputSeries)
	if err != nil {
		return err
	}
	lat, err := logPlot("Refresh lateness vs plan", "ms (log scale)", done, latenessSeries)
	if err != nil {
		return err
	}
	thr.Y.Max *= 30 // headroom above the lines for the legend
	lat.Y.Max *= 10
	for _, p := range []*plot.Plot{thr, lat} {
		p.Legend.Top = true
		p.Legend.Left = true
		if len(done) > 1 {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		}
	}
	return writePNG(path, thr, lat)
}

// series is one line of a chart: its legend and the figure of a result it draws.
type series struct {
	name string
	f    func(Result) float64
}

// throughputSeries are the left panel's lines, in legend and colour order.
var throughputSeries = []series{
	{"controller, burst", func(r Result) float64 { return r.BurstThroughput }},
	{"controller, catch-up", func(r Result) float64 { return r.ControllerThroughput }},
	{"raw token endpoint", func(r Result) float64 { return r.RawThroughput }},
	{"steady state, completed", func(r Result) float64 { return r.SteadyRefreshRate }},
}

// latenessSeries are the right panel's lines, in legend and colour order.
var latenessSeries = []series{
	{"p50", func(r Result) float64 { return r.Lateness.P50 }},
	{"p99", func(r Result) float64 { return r.Lateness.P99 }},
	{"max", func(r Result) float64 { return r.Lateness.Max }},
}

// logPlot draws each of ss against the number of servers on a log Y axis: the raw endpoint is
// orders of magnitude above the controller, and lateness spans as much; only a log scale shows both.
func logPlot(title, yLabel string, done []Result, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "servers"
	p.Y.Label.Text = yLabel
	for i, s := range ss {
		if err := addSeries(p, s.name, i, pointsOf(done, s.f)); err != nil {
			return nil, err
		}
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	return p, nil
}

// pointsOf is f of every result, leaving out zeros: not measured, or zero, which a log scale
// cannot show.
func pointsOf(done []Result, f func(Result) float64) plotter.XYs {
	pts := make(plotter.XYs, 0, len(done))
	for _, r := range done {
		if v := f(r); v > 0 {
			pts = append(pts, plotter.XY{X: float64(r.N), Y: v})
		}
	}
	return pts
}

// addSeries adds pts as a line with dots in the i-th colour, and to the legend; a series with no
// point is left out of both, so the legend names only what is drawn.
func addSeries(p *plot.Plot, name string, i int, pts plotter.XYs) error {
	if len(pts) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	c := palette[i%len(palette)]
	l.Color, s.Color = c, c
	s.Shape = draw.CircleGlyph{}
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// writePNG writes the two panels side by side, aligned so that their axes line up.
func writePNG(path string, thr, lat *plot.Plot) error {
	img := vgimg.New(12*vg.Inch, 4.5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{thr, lat}}
	canvases := plot.Align(plots, tiles, dc)
	thr.Draw(canvases[0][0])
	lat.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}
