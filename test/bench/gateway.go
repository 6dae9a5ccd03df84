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

func benchGateway(cfg Config, a *authServer, m *managerProc, n int) (GatewayResult, error) {
	ts := &tokenSource{a: a}
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	plain := &http.Client{Transport: tr}
	direct := &http.Client{Transport: bearer{ts: ts, base: tr}}
	first := serverName(0)
	eps := []endpoint{
		{"direct", a.MCPURL(), "echo", direct},
		{"gateway /servers/…/mcp", fmt.Sprintf("http://%s/servers/%s/%s/mcp", m.gatewayAddr, benchNamespace, first), "echo", plain},
		{"gateway /mcp (aggregated)", "http://" + m.gatewayAddr + "/mcp", gateway.ToolName(benchNamespace, first, "echo"), plain},
	}
	res := GatewayResult{Measured: true, Servers: n}
	for _, ep := range eps {
		t := GatewayTarget{Name: ep.name, CallsPerSecond: map[int]float64{}}
		lat, err := latency(ep, cfg.GatewayCalls)
		if err != nil {
			return res, fmt.Errorf("%s: %w", ep.name, err)
		}
		t.Latency = distOf(lat)
		for _, c := range cfg.GatewayConcurrency {
			rate, err := throughput(ep, c, cfg.GatewayDuration)
			if err != nil {
				return res, fmt.Errorf("%s with %d clients: %w", ep.name, c, err)
			}
			t.CallsPerSecond[c] = rate
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

// throughput runs clients sessions calling in a loop for d and returns calls per second.
func throughput(ep endpoint, clients int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	sessions := make([]*mcp.ClientSession, clients)
	for i := range sessions {
		cs, err := connect(ctx, ep)
		if err != nil {
			return 0, fmt.Errorf("connecting: %w", err)
		}
		defer func() { _ = cs.Close() }()
		sessions[i] = cs
	}
	var n atomic.Int64
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	stopAt := start.Add(d)
	for _, cs := range sessions {
		wg.Go(func() {
			for time.Now().Before(stopAt) {
				if err := call(ctx, cs, ep.tool); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}
