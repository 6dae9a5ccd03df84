package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// What a window of the HA run cost every process on the machine: on 2 shared cores, the
// managers, the control plane and the harness compete, so a figure is bounded by whichever
// of them ran out of CPU, or by the machine itself.

// cpuSample is the CPU time used so far by the processes of a run, by role, and by the whole
// machine.
type cpuSample struct {
	at time.Time
	// seconds by role: each manager replica (manager-0, …), kube-apiserver, etcd, and the
	// harness (this process: the OAuth and MCP test server and every client).
	seconds map[string]float64
	// busy and total are the machine's jiffies over all its CPUs (/proc/stat).
	busy, total float64
	load        string
}

// controlPlaneProcesses are the control plane's binaries, children of this process.
var controlPlaneProcesses = []string{"kube-apiserver", "etcd"}

// sampleCPU reads the CPU time of the managers rs, of this process's control plane children
// and of this process, and the machine's.
func sampleCPU(rs replicas) cpuSample {
	s := cpuSample{at: time.Now(), seconds: map[string]float64{}, load: loadAverage()}
	for i, m := range rs {
		if ps, err := m.procStats(); err == nil {
			s.seconds[fmt.Sprintf("manager-%d", i)] = ps.CPUSeconds
		}
	}
	if ps, err := procStatsOf(os.Getpid()); err == nil {
		s.seconds["harness"] = ps.CPUSeconds
	}
	for name, pid := range children(os.Getpid(), controlPlaneProcesses) {
		if ps, err := procStatsOf(pid); err == nil {
			s.seconds[name] += ps.CPUSeconds
		}
	}
	s.busy, s.total = machineJiffies()
	return s
}

// CPUUse is what each role used of the CPU over a window: seconds, and cores (seconds per
// second of the window); and how busy the machine was, with its load average at both ends.
type CPUUse struct {
	WindowSeconds  float64            `json:"windowSeconds"`
	Seconds        map[string]float64 `json:"cpuSeconds"`
	MachineBusyPct float64            `json:"machineBusyPct"`
	// LoadStart and LoadEnd are /proc/loadavg's 1, 5 and 15 minute figures.
	LoadStart string `json:"loadAverageStart"`
	LoadEnd   string `json:"loadAverageEnd"`
}

// cpuUse is what was used from a to b.
func cpuUse(a, b cpuSample) CPUUse {
	u := CPUUse{WindowSeconds: b.at.Sub(a.at).Seconds(), Seconds: map[string]float64{}, LoadStart: a.load, LoadEnd: b.load}
	for role, v := range b.seconds {
		u.Seconds[role] = v - a.seconds[role]
	}
	if d := b.total - a.total; d > 0 {
		u.MachineBusyPct = 100 * (b.busy - a.busy) / d
	}
	return u
}

// managers is the CPU seconds of every manager replica together.
func (u CPUUse) managers() float64 {
	sum := 0.0
	for role, v := range u.Seconds {
		if strings.HasPrefix(role, "manager-") {
			sum += v
		}
	}
	return sum
}

// cores is role's seconds per second of the window.
func (u CPUUse) cores(role string) float64 {
	if u.WindowSeconds <= 0 {
		return 0
	}
	return u.Seconds[role] / u.WindowSeconds
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures, "2.31 / 3.21 / 2.23".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " / ")
}

// machineJiffies is the busy and total time of all CPUs since boot, from /proc/stat's first
// line (busy: all but idle and iowait; guest time is already in user).
func machineJiffies() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	for i := 1; i < len(f) && i <= 8; i++ { // user nice system idle iowait irq softirq steal
		v, _ := strconv.ParseFloat(f[i], 64)
		total += v
		if i != 4 && i != 5 {
			busy += v
		}
	}
	return busy, total
}

// children finds the child processes of parent whose command is one of names.
func children(parent int, names []string) map[string]int {
	out := map[string]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open || end+2 > len(b) {
			continue
		}
		comm := string(b[open+1 : end])
		f := strings.Fields(string(b[end+2:])) // state, ppid, …
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		for _, n := range names {
			if comm == n {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
				out[n] = pid
			}
		}
	}
	return out
}

// apiServerScrape reads the API server's own metrics, as its administrator.
func apiServerScrape(cfg *rest.Config) (metricSet, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("the API server's metrics: %w", err)
	}
	return parseMetrics(bytes.NewReader(b))
}

// writeVerbs are the verbs of apiserver_request_total that change an object.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

var labelPair = regexp.MustCompile(`(\w+)="([^"]*)"`)

// apiServerWrites is the writes the API server counted (apiserver_request_total), by
// "resource[/subresource] VERB": whoever sent them.
func apiServerWrites(s metricSet) map[string]float64 {
	out := map[string]float64{}
	for key, v := range apiServerRequests(s) {
		if _, verb, _ := strings.Cut(key, " "); writeVerbs[verb] {
			out[key] = v
		}
	}
	return out
}

// apiServerRequests is every request the API server counted (apiserver_request_total) for a
// resource, by "resource[/subresource] VERB", whoever sent them, and the events its watches
// sent (apiserver_watch_events_total), by "resource WATCH-EVENT".
func apiServerRequests(s metricSet) map[string]float64 {
	out := map[string]float64{}
	for series, v := range s {
		if strings.HasPrefix(series, "apiserver_watch_events_total{") {
			l := labels(series)
			out[cmp.Or(l["resource"], l["kind"])+" WATCH-EVENT"] += v
			continue
		}
		if !strings.HasPrefix(series, "apiserver_request_total{") {
			continue
		}
		l := labels(series)
		if l["resource"] == "" {
			continue
		}
		key := l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key+" "+l["verb"]] += v
	}
	return out
}

// labels is a series' label pairs.
func labels(series string) map[string]string {
	l := map[string]string{}
	for _, m := range labelPair.FindAllStringSubmatch(series, -1) {
		l[m[1]] = m[2]
	}
	return l
}

// requestsPerRefresh is apiServerRequests from a to b, per refresh, where at least 0.01.
func requestsPerRefresh(a, b metricSet, refreshes int) map[string]float64 {
	if refreshes <= 0 || a == nil || b == nil {
		return nil
	}
	before := apiServerRequests(a)
	out := map[string]float64{}
	for key, v := range apiServerRequests(b) {
		if d := (v - before[key]) / float64(refreshes); d >= 0.01 {
			out[key] = d
		}
	}
	return out
}
