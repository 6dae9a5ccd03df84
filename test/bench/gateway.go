package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpproxy/mcpproxy-operator/gateway"
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
	// ManagerCPUPerCallUs is the manager's CPU time (user and system; all replicas') per
	// call while the clients called, by concurrent clients: what a call costs the gateway,
	// steadier on a shared machine than throughput (for direct calls, the manager's
	// background work).
	ManagerCPUPerCallUs map[int]float64 `json:"managerCpuPerCallUs,omitempty"`
	// CPU is what every process on the machine used while the clients called, by concurrent
	// clients.
	CPU map[int]CPUUse `json:"cpu,omitempty"`
}

// GatewayResult is the gateway section.
type GatewayResult struct {
	Measured bool   `json:"measured"`
	Note     string `json:"note,omitempty"`
	Servers  int    `json:"servers,omitempty"`
	// Replicas is how many managers served the gateway; the clients' sessions were spread
	// over them round robin.
	Replicas int             `json:"replicas,omitempty"`
	Targets  []GatewayTarget `json:"targets,omitempty"`
}

// endpoint is a target: where to connect (each replica's address of it; the i-th session of a
// run goes to the i-th address round robin, as a Service would spread them), which tool name,
// which HTTP client.
type endpoint struct {
	name, tool string
	urls       []string
	hc         *http.Client
}

// gatewayEndpoints are the ways of calling the echo tool of the first server: directly (the
// harness's own token), through /servers/…/mcp and through /mcp of the gateways at addrs.
func gatewayEndpoints(a *authServer, addrs []string) []endpoint {
	ts := &tokenSource{a: a}
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	plain := &http.Client{Transport: tr}
	direct := &http.Client{Transport: bearer{ts: ts, base: tr}}
	first := serverName(0)
	var servers, aggregated []string
	for _, addr := range addrs {
		servers = append(servers, fmt.Sprintf("http://%s/servers/%s/%s/mcp", addr, benchNamespace, first))
		aggregated = append(aggregated, "http://"+addr+"/mcp")
	}
	return []endpoint{
		{name: "direct", tool: "echo", urls: []string{a.MCPURL()}, hc: direct},
		{name: "gateway /servers/…/mcp", tool: "echo", urls: servers, hc: plain},
		{name: "gateway /mcp (aggregated)", tool: gateway.ToolName(benchNamespace, first, "echo"), urls: aggregated, hc: plain},
	}
}

// benchGateway measures each endpoint of the gateways of rs: latency, then throughput at each
// client count, with the CPU every process used meanwhile.
func benchGateway(cfg Config, a *authServer, rs replicas, n int) (GatewayResult, error) {
	eps := gatewayEndpoints(a, rs.gatewayAddrs())
	res := GatewayResult{Measured: true, Servers: n, Replicas: len(rs)}
	for _, ep := range eps {
		t := GatewayTarget{Name: ep.name, CallsPerSecond: map[int]float64{}, ManagerCPUPerCallUs: map[int]float64{}, CPU: map[int]CPUUse{}}
		lat, err := latency(ep, cfg.GatewayCalls)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ep.name, err)
		}
		t.Latency = distOf(lat)
		for _, c := range cfg.GatewayConcurrency {
			var cpu [2]cpuSample
			r, err := driveWith(ep, c, cfg.GatewayDuration, func(i int) { cpu[i] = sampleCPU(rs) })
			if err == nil && r.failed > 0 {
				err = r.firstErr
			}
			if err != nil {
				return res, fmt.Errorf("%s with %d clients: %w", ep.name, c, err)
			}
			t.CallsPerSecond[c] = r.rate()
			t.CPU[c] = cpuUse(cpu[0], cpu[1])
			if r.calls > 0 {
				t.ManagerCPUPerCallUs[c] = t.CPU[c].managers() / float64(r.calls) * 1e6
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

// connect opens session i of ep, on the i-th of its addresses round robin.
func connect(ctx context.Context, ep endpoint, i int) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpproxy-bench", Version: "v1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ep.urls[i%len(ep.urls)], HTTPClient: ep.hc, MaxRetries: 1}, nil)
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

// latency makes calls sequential calls (after a warm-up) by one client, which has a session
// on each of ep's addresses and takes them in turn.
func latency(ep endpoint, calls int) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sessions := make([]*mcp.ClientSession, len(ep.urls))
	for i := range sessions {
		cs, err := connect(ctx, ep, i)
		if err != nil {
			return nil, fmt.Errorf("connecting: %w", err)
		}
		defer func() { _ = cs.Close() }()
		sessions[i] = cs
	}
	for i := range 20 {
		if err := call(ctx, sessions[i%len(sessions)], ep.tool); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, calls)
	for i := range calls {
		start := time.Now()
		if err := call(ctx, sessions[i%len(sessions)], ep.tool); err != nil {
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
		cs, err := connect(ctx, ep, i)
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
