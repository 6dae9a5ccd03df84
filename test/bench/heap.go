package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	return os.WriteFile(out+".txt", top, 0o644)
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
