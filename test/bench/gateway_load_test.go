package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// loadServers and loadClients are the size of TestAggregatedGatewayUnderLoad: the bench's 64
// clients, against fewer servers than its 100 so it fits in `make test`.
const (
	loadServers  = 12
	loadClients  = 64
	loadDuration = 3 * time.Second
)

// TestAggregatedGatewayUnderLoad calls the echo tool of one server from 64 concurrent clients
// through both gateway routes, with a dozen servers registered, and asserts that no call
// fails. The committed bench could not measure /mcp at 100 servers and 64 clients ("rejected
// by transport"); this is that load, smaller.
func TestAggregatedGatewayUnderLoad(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test` (it builds etcd and kube-apiserver once)")
	}
	cfg := SmokeConfig()
	cfg.TokenTTL = 60 * time.Second
	cfg.OutDir = t.TempDir()
	cfg.WorkDir = t.TempDir()
	cfg.Log = testWriter{t}
	n, d := loadServers, loadDuration
	// For a longer look by hand: BENCH_LOAD_N servers, BENCH_LOAD_TTL tokens, BENCH_LOAD_DURATION,
	// BENCH_WORKDIR.
	if v, err := strconv.Atoi(os.Getenv("BENCH_LOAD_N")); err == nil && v > 0 {
		n = v
	}
	if v, err := time.ParseDuration(os.Getenv("BENCH_LOAD_TTL")); err == nil && v >= 4*time.Second {
		cfg.TokenTTL = v
	}
	if v, err := time.ParseDuration(os.Getenv("BENCH_LOAD_DURATION")); err == nil && v > 0 {
		d = v
	}
	if v := os.Getenv("BENCH_WORKDIR"); v != "" {
		cfg.WorkDir = v // kept, with the manager's log
	}
	f, cleanup := startFleetForTest(t, cfg, n)
	defer cleanup()
	for _, ep := range f.endpoints()[1:] {
		r, err := drive(ep, loadClients, d)
		if err != nil {
			t.Fatalf("%s: %v", ep.name, err)
		}
		t.Logf("%s, %d clients: %d calls (%.0f/s), %d failed", ep.name, loadClients, r.calls, r.rate(), r.failed)
		if r.failed > 0 {
			t.Errorf("%s with %d clients: %d of %d calls failed: %s", ep.name, loadClients, r.failed, r.failed+r.calls, errSummary(r.errs))
		}
		if r.calls == 0 {
			t.Errorf("%s with %d clients: no call succeeded", ep.name, loadClients)
		}
	}
	if t.Failed() {
		t.Logf("manager log: %s", f.rs[0].logPath)
		if b, err := os.ReadFile(f.rs[0].logPath); err == nil {
			t.Logf("last of the manager's log:\n%s", tail(b, 40))
		}
	}
}

// TestGatewayBench measures the gateway phase alone (the bench's figures for its three
// targets) when BENCH_GATEWAY_ONLY=N is set, on N servers, with the full bench's calls,
// durations and client counts; BENCH_GATEWAY_CALLS and BENCH_GATEWAY_DURATION shorten it.
// The figures are logged and written to $BENCH_OUT/gateway.json when BENCH_OUT is set. It is
// skipped otherwise: `make test` runs TestAggregatedGatewayUnderLoad instead.
func TestGatewayBench(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("BENCH_GATEWAY_ONLY"))
	if err != nil || n < 1 {
		t.Skip("set BENCH_GATEWAY_ONLY=N to measure the gateway alone on N servers")
	}
	cfg, err := DefaultConfig().FromEnv() // BENCH_TTL, BENCH_GATEWAY_CALLS, BENCH_GATEWAY_DURATION, BENCH_WORKDIR…
	if err != nil {
		t.Fatal(err)
	}
	cfg.OutDir = t.TempDir()
	if cfg.WorkDir == "" {
		cfg.WorkDir = t.TempDir()
	}
	cfg.Log = testWriter{t}
	f, cleanup := startFleetForTest(t, cfg, n)
	defer cleanup()
	res, err := benchGateway(cfg, f.a, f.rs, n)
	if err != nil {
		t.Errorf("gateway: %v", err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("gateway figures:\n%s", b)
	if out := os.Getenv("BENCH_OUT"); out != "" {
		if err := os.WriteFile(filepath.Join(out, "gateway.json"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// startFleetForTest builds the manager and starts a gateway fleet of n servers. With
// BENCH_MANAGER_ROOT set, the manager (and the CRDs) come from that checkout instead, say a
// worktree of an older commit, for before and after figures with the same harness.
func startFleetForTest(t *testing.T, cfg Config, n int) (*gatewayFleet, func()) {
	t.Helper()
	if root := os.Getenv("BENCH_MANAGER_ROOT"); root != "" {
		cfg.RepoRoot = root
	}
	cfg, bin, cleanup, err := prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := startGatewayFleet(cfg, bin, n)
	if err != nil {
		cleanup()
		t.Fatal(err)
	}
	return f, func() { f.stop(); cleanup() }
}

// errSummary lists the distinct failures, the most frequent first.
func errSummary(errs map[string]int) string {
	type kv struct {
		msg string
		n   int
	}
	var all []kv
	for m, n := range errs {
		all = append(all, kv{m, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	out := ""
	for i, e := range all {
		if i == 5 {
			break
		}
		out += "\n\t" + strconv.Itoa(e.n) + "× " + e.msg
	}
	return out
}

// tail is the last n lines of b.
func tail(b []byte, n int) string {
	end := len(b)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n < 0 {
				return string(b[i+1 : end])
			}
		}
	}
	return string(b)
}
