package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// heapProfile saves the manager's live heap (the profile endpoint collects garbage first) to
// out, and what holds it, by allocation site, to out with .txt: where memory per server goes.
func (m *managerProc) heapProfile(out string) error {
	c := http.Client{Timeout: time.Minute}
	resp, err := c.Get("http://" + m.pprofAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=60", "-sample_index=inuse_space", out).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w", err)
	}
	if err := os.WriteFile(out+".txt", top, 0o644); err != nil {
		return err
	}
	return m.runtimeProfile(strings.TrimSuffix(out, ".pprof") + ".runtime.txt")
}

// runtimeProfile saves what the heap profile leaves out of RSS: the runtime's memory
// statistics (goroutine stacks, heap kept but free) and the goroutines, largest groups first.
func (m *managerProc) runtimeProfile(out string) error {
	var b strings.Builder
	for _, part := range []struct {
		path string
		keep func(lines []string) []string
	}{
		{"/debug/pprof/heap?debug=1", memStatsLines},
		{"/debug/pprof/goroutine?debug=1", goroutineGroups},
	} {
		body, err := m.pprofText(part.path)
		if err != nil {
			return err
		}
		for _, l := range part.keep(strings.Split(body, "\n")) {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

func (m *managerProc) pprofText(path string) (string, error) {
	c := http.Client{Timeout: time.Minute}
	resp, err := c.Get("http://" + m.pprofAddr + path)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", path, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// memStatsLines keeps the runtime.MemStats block at the end of a debug=1 heap profile.
func memStatsLines(lines []string) []string {
	for i, l := range lines {
		if strings.HasPrefix(l, "# runtime.MemStats") {
			return lines[i:]
		}
	}
	return nil
}

// goroutineGroups keeps the total and the ten largest groups of a debug=1 goroutine profile
// (it lists groups largest first), each with its stack.
func goroutineGroups(lines []string) []string {
	var out []string
	groups := 0
	for _, l := range lines {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "goroutine profile") {
			if groups++; groups > 10 {
				break
			}
		}
		out = append(out, l)
	}
	return out
}

// saveHeap writes the heap profile of an N run after its steady window, when cfg.Profile.
func (r *nRun) saveHeap() {
	if !r.cfg.Profile {
		return
	}
	if err := r.m.heapProfile(filepath.Join(r.cfg.OutDir, fmt.Sprintf("heap-n%d.pprof", r.n))); err != nil {
		logf(r.cfg, "N=%d: heap profile: %v", r.n, err)
	}
}
