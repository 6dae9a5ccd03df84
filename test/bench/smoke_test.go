package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSmoke runs the benchmark reduced (20 servers, 5s tokens, one lifetime; then 20
// credentials over 2 PerSubject servers, 5s tokens; then the HA run with 3 replicas on the
// Secrets store and 20 servers) so the harness cannot rot. It asserts that every figure comes
// out, not how good it is.
func TestBenchSmoke(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test` (it builds etcd and kube-apiserver once)")
	}
	cfg := SmokeConfig()
	cfg.OutDir = t.TempDir()
	cfg.WorkDir = t.TempDir()
	cfg.Log = testWriter{t}
	rep, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if !r.Completed {
		t.Fatalf("the run did not complete: %s", r.Problem)
	}
	checks := map[string]bool{
		"due refreshes":          r.DueRefreshes > 0,
		"lateness":               r.Lateness.Count > 0,
		"raw throughput":         r.RawThroughput > 0,
		"raw pipeline":           r.RawPipeline > 0 && r.BurstPipelineRat > 0,
		"burst phases":           r.BurstPhases["read"] > 0 && r.BurstPhases["token_call"] > 0 && r.BurstPhases["status_patch"] > 0,
		"scheduled burst":        r.ScheduledRefreshes >= r.N && r.ScheduledPipelineRat > 0 && r.ScheduledPhases["token_call"] > 0,
		"CPU split by process":   r.RawPipelineCPU["kube-apiserver"] > 0 && r.ScheduledCPU["kube-apiserver"] > 0 && r.ScheduledCPU["manager-0"] > 0,
		"fleet-shaped pipeline":  r.RawPipelineFleet > 0 && r.ScheduledFleetPipelineRat > 0 && r.FleetObjectBytes > r.RawObjectBytes && r.RawPipelineFleetCPU["kube-apiserver"] > 0,
		"controller throughput":  r.ControllerThroughput > 0,
		"API writes per refresh": r.APIWritesPerRefresh > 0,
		"reconciles per refresh": r.ReconcilesPerRef > 0,
		"hand-over to Ready":     r.HandOverToReady.Count == r.N,
		"cold start":             r.ColdStartAllReadyS > 0 && r.ColdStartReconciles > 0 && r.ColdStartPhases["session"] > 0 && r.ColdStartCPU.Seconds["manager-0"] > 0,
		"catch-up":               r.CatchUpRefreshes >= r.N,
		"memory":                 r.RSSBytes > 0 && r.HeapBytes > 0,
		"CPU per refresh":        r.CPUSecondsPerRef > 0,
		"gateway measured":       rep.Gateway.Measured && len(rep.Gateway.Targets) == 3,
	}
	expectFigures(t, checks)
	if !rep.Gateway.Measured {
		t.Logf("gateway: %s", rep.Gateway.Note)
	}
	c := rep.Credentials
	if c == nil || !c.Completed {
		t.Fatalf("the per-subject run did not complete: %+v", c)
	}
	expectFigures(t, map[string]bool{
		"credentials: due refreshes":          c.DueRefreshes > 0,
		"credentials: lateness":               c.Lateness.Count > 0,
		"credentials: steady refresh rate":    c.SteadyRefreshRate > 0 && c.DemandPerSecond > 0,
		"credentials: API writes per refresh": c.APIWritesPerRefresh > 0,
		"credentials: reconciles per refresh": c.ReconcilesByController["upstreamcredential"] > 0,
		"credentials: hand-over to Ready":     c.HandOverToReady.Count == c.Credentials,
		"credentials: memory":                 c.Before.RSSBytes > 0 && c.After.RSSBytes > 0 && c.After.HeapInuseBytes > 0,
		"credentials: CPU per refresh":        c.CPUSecondsPerRef > 0,
	})
	for _, f := range []string{"results.json", "results.md", "results.png"} {
		if st, err := os.Stat(filepath.Join(cfg.OutDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s was not written: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(cfg.OutDir, "results.md"))
	if !strings.Contains(string(md), "## Per-subject credentials") {
		t.Error("results.md has no per-subject section")
	}
	t.Logf("\n%s", md)
	checkHA(t, cfg)
}

// checkHA runs the HA run reduced (3 replicas on the Secrets store, 20 servers, one client
// count, no window of scheduled refreshes: about 12s) and asserts that every figure comes out.
func checkHA(t *testing.T, cfg Config) {
	cfg.GatewayConcurrency = []int{4}
	rep, err := RunHA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Setups[0]
	if !r.Completed {
		t.Fatalf("the HA run did not complete: %s", r.Problem)
	}
	b := burstOf(r)
	if b == nil {
		t.Fatalf("the HA run measured no burst: %+v", r)
	}
	expectFigures(t, map[string]bool{
		"HA: a leader":                  r.Leader >= 0,
		"HA: every burst":               len(r.Bursts) == cfg.HABursts,
		"HA: gateway over 3 replicas":   r.Gateway.Measured && r.Gateway.Replicas == 3 && len(r.Gateway.Targets) == 3,
		"HA: gateway CPU by process":    hasRoles(r.Gateway.Targets[1].CPU[4], "manager-2", "kube-apiserver", "etcd", "harness"),
		"HA: burst throughput":          b.BurstThroughput > 0,
		"HA: burst status patches":      b.Costs.StatusPatchesPerRefresh > 0,
		"HA: burst token Secret writes": b.Costs.TokenSecretWritesPerRefresh > 0,
		"HA: burst API server writes":   b.Costs.APIServerWritesPerRefresh["upstreamservers/status PATCH"] > 0,
	})
	md, err := os.ReadFile(filepath.Join(cfg.OutDir, "ha.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", md)
}

// expectFigures fails t for every figure (named) that did not come out.
func expectFigures(t *testing.T, checks map[string]bool) {
	t.Helper()
	for what, ok := range checks {
		if !ok {
			t.Errorf("no figure for %s", what)
		}
	}
}

// hasRoles reports whether u measured every one of roles.
func hasRoles(u CPUUse, roles ...string) bool {
	for _, r := range roles {
		if _, ok := u.Seconds[r]; !ok {
			return false
		}
	}
	return u.WindowSeconds > 0
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
