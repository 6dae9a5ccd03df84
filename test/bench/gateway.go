package bench

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
	"github.com/mcpproxy/mcpproxy-operator/gateway"
	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

// GatewayTarget is one way of calling the echo tool.
type GatewayTarget struct {
	Name string `json:"name"`
	// Latency of sequential calls by one client.
	Latency Dist `json:"latency"`
	// AddedP50Us and AddedP99Us compare with calling the upstream directly (0 for direct).
	AddedP50Us float64 `json:"addedP50Us"`
	AddedP99Us float64 `json:"addedP99Us"`
	// CallsPerSecond by concurrent clients; RatioToDirect likewise.
	CallsPerSecond map[int]float64 `json:"callsPerSecond"`
	RatioToDirect  map[int]float64 `json:"ratioToDirect,omitempty"`
	// ManagerCPUPerCallUs is the manager's CPU time (user and system) per call while the
	// clients called, by concurrent clients: what a call costs the gateway, steadier on a
	// shared machine than throughput (for direct calls, the manager's background work).
	ManagerCPUPerCallUs map[int]float64 `json:"managerCpuPerCallUs,omitempty"`
}

// GatewayResult is the gateway section.
type GatewayResult struct {
	Measured bool            `json:"measured"`
	Note     string          `json:"note,omitempty"`
	Servers  int             `json:"servers,omitempty"`
	Targets  []GatewayTarget `json:"targets,omitempty"`
}

// endpoint is a target: where to connect, which tool name, which HTTP client.
type endpoint struct {
	name, url, tool string
	hc              *http.Client
}

// gatewayEndpoints are the ways of calling the echo tool of the first server: directly (the
// harness's own token), through /servers/…/mcp and through /mcp.
func gatewayEndpoints(a *authServer, m *managerProc) []endpoint {
	ts := &tokenSource{a: a}
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	plain := &http.Client{Transport: tr}
	direct := &http.Client{Transport: bearer{ts: ts, base: tr}}
	first := serverName(0)
	return []endpoint{
		{"direct", a.MCPURL(), "echo", direct},
		{"gateway /servers/…/mcp", fmt.Sprintf("http://%s/servers/%s/%s/mcp", m.gatewayAddr, benchNamespace, first), "echo", plain},
		{"gateway /mcp (aggregated)", "http://" + m.gatewayAddr + "/mcp", gateway.ToolName(benchNamespace, first, "echo"), plain},
	}
}

func benchGateway(cfg Config, a *authServer, m *managerProc, n int) (GatewayResult, error) {
	eps := gatewayEndpoints(a, m)
	res := GatewayResult{Measured: true, Servers: n}
	for _, ep := range eps {
		t := GatewayTarget{Name: ep.name, CallsPerSecond: map[int]float64{}, ManagerCPUPerCallUs: map[int]float64{}}
		lat, err := latency(ep, cfg.GatewayCalls)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ep.name, err)
		}
		t.Latency = distOf(lat)
		for _, c := range cfg.GatewayConcurrency {
			var cpu [2]float64
			r, err := driveWith(ep, c, cfg.GatewayDuration, func(i int) {
				if ps, err := m.procStats(); err == nil {
					cpu[i] = ps.CPUSeconds
				}
			})
			if err == nil && r.failed > 0 {
				err = r.firstErr
			}
			if err != nil {
				return res, fmt.Errorf("%s with %d clients: %w", ep.name, c, err)
			}
			t.CallsPerSecond[c] = r.rate()
			if r.calls > 0 && cpu[1] > 0 {
				t.ManagerCPUPerCallUs[c] = (cpu[1] - cpu[0]) / float64(r.calls) * 1e6
			}
		}
		res.Targets = append(res.Targets, t)
	}
	d := res.Targets[0]
	for i := 1; i < len(res.Targets); i++ {
		t := &res.Targets[i]
		t.AddedP50Us = (t.Latency.P50 - d.Latency.P50) * 1000
		t.AddedP99Us = (t.Latency.P99 - d.Latency.P99) * 1000
		t.RatioToDirect = map[int]float64{}
		for c, r := range t.CallsPerSecond {
			if d.CallsPerSecond[c] > 0 {
				t.RatioToDirect[c] = r / d.CallsPerSecond[c]
			}
		}
	}
	return res, nil
}

func connect(ctx context.Context, ep endpoint) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpproxy-bench", Version: "v1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ep.url, HTTPClient: ep.hc, MaxRetries: 1}, nil)
}

func call(ctx context.Context, cs *mcp.ClientSession, tool string) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": "bench"}})
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tool %s answered an error", tool)
	}
	return nil
}

// latency makes calls sequential calls (after a warm-up) on one session.
func latency(ep endpoint, calls int) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := connect(ctx, ep)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	defer func() { _ = cs.Close() }()
	for range 20 {
		if err := call(ctx, cs, ep.tool); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, calls)
	for range calls {
		start := time.Now()
		if err := call(ctx, cs, ep.tool); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// load is what clients calling in a loop saw: the calls that succeeded and those that failed.
type load struct {
	calls, failed int64
	// firstErr is the first failure; errs counts the failures by message.
	firstErr error
	errs     map[string]int
	elapsed  time.Duration
}

func (l load) rate() float64 { return float64(l.calls) / l.elapsed.Seconds() }

// drive opens clients sessions (all before the first call), then each calls in a loop for d,
// going on after a failed call: every failure is counted. Only a session that cannot be
// opened is an error.
func drive(ep endpoint, clients int, d time.Duration) (load, error) {
	return driveWith(ep, clients, d, nil)
}

// driveWith is drive calling mark(0) right before the first call and mark(1) right after
// the last, so the calling window alone can be measured.
func driveWith(ep endpoint, clients int, d time.Duration, mark func(int)) (load, error) {
	if mark == nil {
		mark = func(int) {}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	sessions := make([]*mcp.ClientSession, clients)
	for i := range sessions {
		cs, err := connect(ctx, ep)
		if err != nil {
			return load{}, fmt.Errorf("connecting session %d of %d: %w", i+1, clients, err)
		}
		defer func() { _ = cs.Close() }()
		sessions[i] = cs
	}
	var ok, failed atomic.Int64
	var mu sync.Mutex
	res := load{errs: map[string]int{}}
	var wg sync.WaitGroup
	mark(0)
	start := time.Now()
	stopAt := start.Add(d)
	for _, cs := range sessions {
		wg.Go(func() {
			for time.Now().Before(stopAt) {
				if err := call(ctx, cs, ep.tool); err != nil {
					failed.Add(1)
					mu.Lock()
					if res.firstErr == nil {
						res.firstErr = err
					}
					res.errs[err.Error()]++
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	mark(1)
	res.calls, res.failed = ok.Load(), failed.Load()
	return res, nil
}

// gatewayFleet is what the gateway is measured against on its own: a control plane, the OAuth
// server and the manager, with n logged-in servers, all Ready and listed on /mcp.
type gatewayFleet struct {
	cfg Config
	n   int
	cp  *controlplane.ControlPlane
	a   *authServer
	c   client.Client
	m   *managerProc
}

// startGatewayFleet starts a fleet of n servers in cfg.WorkDir; stop ends it, also when it
// failed half way.
func startGatewayFleet(cfg Config, bin string, n int) (f *gatewayFleet, err error) {
	f = &gatewayFleet{cfg: cfg, n: n}
	defer func() {
		if err != nil {
			f.stop()
		}
	}()
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("gateway-n%d", n))
	if f.cp, err = controlplane.Start(filepath.Join(cfg.RepoRoot, "config", "crd", "bases"), dir); err != nil {
		return f, err
	}
	if f.a, err = startAuthServer(n, 0, cfg.TokenTTL); err != nil {
		return f, err
	}
	if f.c, err = newClient(f.cp.Config); err != nil {
		return f, err
	}
	if f.m, err = startManager(managerArgs{bin: bin, kubeconfig: f.cp.KubeconfigPath, store: filepath.Join(dir, "store", "tokens.db"),
		maxConcurrent: cfg.MaxConcurrentReconciles, logDir: dir}); err != nil {
		return f, err
	}
	logf(cfg, "gateway fleet: creating %d logged-in servers", n)
	if _, err = seed(context.Background(), f.c, f.a, n, 16); err != nil {
		return f, err
	}
	timeout := time.Minute + time.Duration(n)*100*time.Millisecond
	if err = waitFor(timeout, f.allReady); err != nil {
		return f, fmt.Errorf("waiting for %d Ready servers: %w", n, err)
	}
	if err = waitFor(timeout, f.allListed); err != nil {
		return f, fmt.Errorf("waiting for /mcp to list the echo tool of %d servers: %w", n, err)
	}
	logf(cfg, "gateway fleet: %d servers Ready and listed on /mcp", n)
	return f, nil
}

// allReady reports whether every server of the fleet is Ready.
func (f *gatewayFleet) allReady() bool {
	var list mcpv1alpha1.UpstreamServerList
	if err := f.c.List(context.Background(), &list, client.InNamespace(benchNamespace)); err != nil {
		return false
	}
	ready := 0
	for _, us := range list.Items {
		if meta.IsStatusConditionTrue(us.Status.Conditions, mcpv1alpha1.ConditionReady) {
			ready++
		}
	}
	return ready >= f.n
}

// allListed reports whether a new /mcp session lists the echo tool of every server.
func (f *gatewayFleet) allListed() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := connect(ctx, f.endpoints()[2])
	if err != nil {
		return false
	}
	defer func() { _ = cs.Close() }()
	echo := 0
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return false
		}
		if strings.HasSuffix(tool.Name, ".echo") {
			echo++
		}
	}
	return echo >= f.n
}

// endpoints are the targets of the fleet: direct, the pass-through of the first server, /mcp.
func (f *gatewayFleet) endpoints() []endpoint {
	return gatewayEndpoints(f.a, f.m)
}

func (f *gatewayFleet) stop() {
	if f.m != nil {
		f.m.stop()
	}
	if f.a != nil {
		f.a.close()
	}
	if f.cp != nil {
		_ = f.cp.Stop()
	}
}
