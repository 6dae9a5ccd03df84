package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/proc"
)

// managerProc is bin/manager running as a child process (internal/testenv/proc, the runner
// e2e and make dev use too; it dies with the harness).
type managerProc struct {
	p           *proc.Process
	started     time.Time
	metricsAddr string
	gatewayAddr string
	pprofAddr   string // net/http/pprof, on loopback
	logPath     string
}

// managerArgs are the fixed parts of its command line.
type managerArgs struct {
	// store is the bbolt file; empty when flags choose the Secrets store.
	bin, kubeconfig, store string
	maxConcurrent          int
	logDir                 string
	// env is added to the manager's environment (the decoy run sets GODEBUG=gctrace=1).
	env []string
	// flags are added to the command line (the HA run's store and leader election).
	flags []string
}

// managerRuns numbers the managers' logs; replicas start side by side.
var managerRuns atomic.Int64

func startManager(a managerArgs) (*managerProc, error) {
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	gatewayAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(a.logDir, fmt.Sprintf("manager-%02d.log", managerRuns.Add(1)))
	args := []string{"--metrics-bind-address=" + metricsAddr, "--pprof-bind-address=" + pprofAddr,
		"--health-probe-bind-address=0", "--gateway-bind-address=" + gatewayAddr,
		"--gateway-allow-loopback-unauthenticated", fmt.Sprintf("--max-concurrent-reconciles=%d", a.maxConcurrent)}
	if a.store != "" {
		args = append(args, "--token-store="+a.store)
	}
	started := time.Now()
	p, err := proc.Start(proc.Spec{Name: "manager", Path: a.bin, LogPath: logPath, Env: append([]string{"KUBECONFIG=" + a.kubeconfig}, a.env...),
		Args: append(args, a.flags...)})
	if err != nil {
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	m := &managerProc{p: p, started: started, metricsAddr: metricsAddr, gatewayAddr: gatewayAddr, pprofAddr: pprofAddr, logPath: logPath}
	// Wait for the metrics endpoint: the manager is up and its caches are starting.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := m.scrape(); err == nil {
			return m, nil
		}
		if p.Exited() {
			return nil, fmt.Errorf("the manager exited at start; see %s", logPath)
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("the manager's metrics endpoint did not answer within 60s; see %s", logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (the manager's graceful shutdown is 30s), then kills. It returns
// how long the manager took; calling it again returns 0.
func (m *managerProc) stop() time.Duration {
	d, _ := m.p.Stop(syscall.SIGTERM, 40*time.Second)
	return d
}

// procStats are read from /proc for the manager.
type procStats struct {
	RSSBytes float64
	// PeakRSSBytes is the largest RSS the process has had (VmHWM).
	PeakRSSBytes float64
	CPUSeconds   float64
}

// clockTicks is USER_HZ, 100 on every Linux we run on.
const clockTicks = 100

func (m *managerProc) procStats() (procStats, error) { return procStatsOf(m.p.Pid()) }

func (m *managerProc) pid() int { return m.p.Pid() }

// procStatsOf reads the memory and CPU time of process pid.
func procStatsOf(pid int) (procStats, error) {
	var ps procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch kb, _ := strconv.ParseFloat(f[1], 64); f[0] {
		case "VmRSS:":
			ps.RSSBytes = kb * 1024
		case "VmHWM:":
			ps.PeakRSSBytes = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name may hold spaces; fields are counted after its closing parenthesis.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return ps, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	ps.CPUSeconds = (utime + stime) / clockTicks
	return ps, nil
}

// metricSet is a scrape: each sample line as series text (name{labels}) to value.
type metricSet map[string]float64

var scrapeClient = &http.Client{Timeout: 10 * time.Second}

func (m *managerProc) scrape() (metricSet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.metricsAddr+"/metrics", nil)
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format: the manager's, or the API server's.
func parseMetrics(r io.Reader) (metricSet, error) {
	out := metricSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sum adds every series of metric name whose labels contain all of the given key="value" parts.
func (s metricSet) sum(name string, labels ...string) float64 {
	total := 0.0
next:
	for series, v := range s {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(series, l) {
				continue next
			}
		}
		total += v
	}
	return total
}

// countEqual counts the series of name whose value is v.
func (s metricSet) countEqual(name string, v float64) int {
	n := 0
	for series, val := range s {
		if strings.HasPrefix(series, name+"{") && val == v {
			n++
		}
	}
	return n
}

// apiWrites counts the manager's write requests to the API server.
func (s metricSet) apiWrites() float64 {
	w := 0.0
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		w += s.sum("rest_client_requests_total", `method="`+m+`"`)
	}
	return w
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}
