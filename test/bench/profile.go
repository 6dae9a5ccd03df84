package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
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

// profileAPIServer samples the control plane's kube-apiserver while a window runs, when
// cfg.Profile: the status patch waits there, so that is where a refresh's time is to be
// explained. what names the window's files.
func profileAPIServer(cfg Config, dir, what string) *profiler {
	pid := apiServerPID()
	if !cfg.Profile || pid == 0 {
		return nil
	}
	return startProfile(pid, filepath.Join(dir, "perf-apiserver-"+what+".data"))
}

// stopAPIServerProfile writes profileAPIServer's report to profile-apiserver-n<N>-<what>.txt.
func stopAPIServerProfile(cfg Config, p *profiler, n int, what string) {
	if err := p.stop(filepath.Join(cfg.OutDir, fmt.Sprintf("profile-apiserver-n%d-%s.txt", n, what))); err != nil {
		logf(cfg, "N=%d: API server profile: %v", n, err)
	}
}
