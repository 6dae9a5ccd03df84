package devsmoke

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// guideShell is one bash that runs the guide's blocks in turn, as a reader's terminal would:
// variables and functions set by one block are there for the next. Each block is written to a
// file and sourced; a line with a random marker and the exit status ends its output. Standard
// output and error share one pipe, so they interleave as on a terminal.
type guideShell struct {
	cmd    *exec.Cmd
	stdin  *os.File
	dir    string
	marker string
	blocks int

	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{} // signalled (without blocking) when out grows
	done    chan struct{}
}

func startGuideShell(workDir, scratch string, env []string) (*guideShell, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	s := &guideShell{dir: scratch, marker: "__guide_block_done_" + hex.EncodeToString(id),
		changed: make(chan struct{}, 1), done: make(chan struct{})}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command("bash", "--noprofile", "--norc")
	s.cmd.Dir, s.cmd.Env = workDir, env
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = inR, outW, outW
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	_ = inR.Close()
	_ = outW.Close()
	s.stdin = inW
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := outR.Read(buf)
			if n > 0 {
				s.mu.Lock()
				s.out.Write(buf[:n])
				s.mu.Unlock()
				select {
				case s.changed <- struct{}{}:
				default:
				}
			}
			if err != nil {
				_ = outR.Close()
				_ = s.cmd.Wait()
				close(s.done)
				return
			}
		}
	}()
	if _, err := fmt.Fprintln(s.stdin, "set -o pipefail"); err != nil {
		return nil, err
	}
	return s, nil
}

// run sources commands in the shell and returns what they printed and the exit status of the
// last one, or an error when they did not finish within timeout (the shell is then unusable).
func (s *guideShell) run(commands string, timeout time.Duration) (string, int, error) {
	s.blocks++
	file := filepath.Join(s.dir, fmt.Sprintf("block-%02d.sh", s.blocks))
	if err := os.WriteFile(file, []byte(commands), 0o600); err != nil {
		return "", 0, err
	}
	s.mu.Lock()
	s.out.Reset()
	s.mu.Unlock()
	// The marker follows a newline of its own: an output need not end with one.
	if _, err := fmt.Fprintf(s.stdin, "source %q </dev/null; printf '\\n%s %%d\\n' $?\n", file, s.marker); err != nil {
		return "", 0, fmt.Errorf("the guide's shell is gone: %w", err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		text := s.out.String()
		s.mu.Unlock()
		if i := strings.Index(text, "\n"+s.marker+" "); i >= 0 {
			if rest := text[i+1+len(s.marker)+1:]; strings.Contains(rest, "\n") {
				code, err := strconv.Atoi(strings.TrimSpace(rest))
				return text[:i], code, err
			}
		}
		select {
		case <-s.changed:
		case <-s.done:
			return text, 0, fmt.Errorf("the guide's shell exited")
		case <-deadline.C:
			return text, 0, fmt.Errorf("still running after %s", timeout)
		}
	}
}

// close ends the shell and whatever it still runs.
func (s *guideShell) close() {
	_ = s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}
