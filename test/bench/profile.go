package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// profiler samples the manager's CPU with Linux perf (the manager serves no pprof endpoint) while
// it catches up, so the report can name where the time goes. It does nothing without perf.
type profiler struct {
	cmd  *exec.Cmd
	data string
}

func startProfile(pid int, data string) *profiler {
	perf, err := exec.LookPath("perf")
	if err != nil || os.Getenv("BENCH_PERF") == "0" {
		return nil
	}
	cmd := exec.Command(perf, "record", "-F", "499", "-g", "-p", fmt.Sprint(pid), "-o", data)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil
	}
	return &profiler{cmd: cmd, data: data}
}

// perfPadding is what perf report pads a symbol line with: spaces up to a terminal's width, and
// two empty columns.
var perfPadding = regexp.MustCompile(`(\s+-\s+-)?\s*$`)

// stop ends the sampling and writes the hottest functions, flat and cumulative, to out.
func (p *profiler) stop(out string) error {
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	var sb strings.Builder
	for _, mode := range []struct{ title, flag string }{
		{"flat (self) CPU by function", "--no-children"},
		{"cumulative CPU by function (self plus callees)", "--children"},
	} {
		rep, err := exec.Command("perf", "report", "-i", p.data, "--stdio", mode.flag, "--sort", "symbol", "-g", "none",
			"--percent-limit", "1.5").Output()
		if err != nil {
			return fmt.Errorf("perf report: %w", err)
		}
		fmt.Fprintf(&sb, "## %s\n\n", mode.title)
		n := 0
		for _, l := range strings.Split(string(rep), "\n") {
			if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
				continue
			}
			sb.WriteString(perfPadding.ReplaceAllString(l, "") + "\n")
			if n++; n >= 40 {
				break
			}
		}
		sb.WriteString("\n")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(sb.String()), 0o644)
}

// cpuProfile is a Go CPU profile being taken over HTTP (net/http/pprof): of the control
// plane's kube-apiserver, where the status patch waits, or of the manager. (The control plane's
// binaries are built stripped, so perf could not name their functions.)
type cpuProfile struct {
	done chan struct{}
	data []byte
	err  error
}

// profileOver runs fetch(ctx, seconds) in the background, when cfg.Profile.
func profileOver(cfg Config, d time.Duration, fetch func(ctx context.Context, seconds string) ([]byte, error)) *cpuProfile {
	if !cfg.Profile {
		return nil
	}
	p := &cpuProfile{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
		defer cancel()
		p.data, p.err = fetch(ctx, strconv.Itoa(max(1, int(d.Round(time.Second).Seconds()))))
	}()
	return p
}

// profileAPIServer profiles the API server for d, as its administrator.
func profileAPIServer(cfg Config, kube *rest.Config, d time.Duration) *cpuProfile {
	if kube == nil {
		return nil
	}
	return profileOver(cfg, d, func(ctx context.Context, seconds string) ([]byte, error) {
		cs, err := kubernetes.NewForConfig(kube)
		if err != nil {
			return nil, err
		}
		return cs.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", seconds).DoRaw(ctx)
	})
}

// profileManager profiles the manager (the leader of replicas) for d.
func profileManager(cfg Config, m process, d time.Duration) *cpuProfile {
	rs := asReplicas(m)
	if len(rs) == 0 {
		return nil
	}
	addr := rs[max(0, rs.leader())].pprofAddr
	return profileOver(cfg, d, func(ctx context.Context, seconds string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/profile?seconds="+seconds, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("the manager's pprof: %s", resp.Status)
		}
		return io.ReadAll(resp.Body)
	})
}

// write waits for the profile and writes its hottest functions, flat and cumulative, to
// profile-<name>.txt, beside the raw profile in dir.
func (p *cpuProfile) write(cfg Config, dir, name string) {
	if p == nil {
		return
	}
	<-p.done
	err := p.err
	if err == nil {
		err = writePprofTop(p.data, filepath.Join(dir, name+".pprof"), filepath.Join(cfg.OutDir, "profile-"+name+".txt"))
	}
	if err != nil {
		logf(cfg, "profile %s: %v", name, err)
	}
}

// writePprofTop saves a pprof profile at raw and its top 40 functions, flat and then
// cumulative, at out.
func writePprofTop(data []byte, raw, out string) error {
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		return err
	}
	var sb strings.Builder
	for _, mode := range []struct{ title, flag string }{
		{"flat (self) CPU by function", "-top"},
		{"cumulative CPU by function (self plus callees)", "-cum"},
	} {
		args := []string{"tool", "pprof", "-top", "-nodecount=40"}
		if mode.flag == "-cum" {
			args = append(args, "-cum")
		}
		rep, err := exec.Command("go", append(args, raw)...).Output()
		if err != nil {
			return fmt.Errorf("go tool pprof: %w", err)
		}
		fmt.Fprintf(&sb, "## %s\n\n%s\n", mode.title, rep)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(sb.String()), 0o644)
}
