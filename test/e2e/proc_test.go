package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/proc"
)

// startProc starts bin with args and extra environment variables as a child process (one
// internal/testenv/proc runner for e2e, bench and make dev), its stdout and stderr in a log
// file under runDir/logs; TestMain kills whatever is left.
func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc.Process {
	t.Helper()
	procsMu.Lock()
	logSeq[name]++
	logPath := filepath.Join(runDir, "logs", fmt.Sprintf("%s-%02d.log", name, logSeq[name]))
	procsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := proc.Start(proc.Spec{Name: name, Path: bin, Args: args, Env: env, LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	return p
}

var (
	procsMu sync.Mutex
	procs   []*proc.Process
	logSeq  = map[string]int{}
)

// stopProc sends SIGTERM and waits up to 40s (the manager's graceful shutdown is 30s), then
// kills.
func stopProc(p *proc.Process) { _, _ = p.Stop(syscall.SIGTERM, 40*time.Second) }

// stopAllProcs ends whatever a failed test left running.
func stopAllProcs() {
	procsMu.Lock()
	ps := append([]*proc.Process(nil), procs...)
	procsMu.Unlock()
	for _, p := range ps {
		if !p.Exited() {
			p.Kill()
		}
	}
}
