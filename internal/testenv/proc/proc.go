// Package proc runs the binaries under test (manager, mcpproxy, oauthserver) as child
// processes with their output in a log file: the one child-process runner of test/e2e,
// test/bench and `make dev` (hack/dev). It does not import testing, so hack/dev can use it.
//
// A child dies with its parent (Pdeathsig on Linux), so a panicking test or a killed
// harness never leaves a manager behind; elsewhere the caller's cleanup has to do.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec describes one child process.
type Spec struct {
	// Name names the process in errors.
	Name string
	// Path is the binary; Args its arguments; Env is added to this process's environment.
	Path string
	Args []string
	Env  []string
	// LogPath receives stdout and stderr. AppendLog appends (after a header line naming the
	// command) instead of truncating: `make dev` keeps its logs across runs.
	LogPath   string
	AppendLog bool
	// OnLine, when set, is called with every complete output line.
	OnLine func(string)
	// OwnGroup starts the child in its own process group, so a Ctrl-C at the terminal reaches
	// only the parent, which then stops its children in order; signals go to the whole group.
	OwnGroup bool
	// DeathSignal is what the child receives when the parent dies (Linux); zero means SIGKILL.
	DeathSignal syscall.Signal
}

// Process is a running (or exited) child.
type Process struct {
	spec Spec
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how it exited; read after done
}

// Start starts the process described by s.
func Start(s Spec) (*Process, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if s.AppendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logFile, err := os.OpenFile(s.LogPath, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the %s log: %w", s.Name, err)
	}
	if s.AppendLog {
		fmt.Fprintf(logFile, "---- %s: %s %s\n", time.Now().Format(time.RFC3339), s.Path, strings.Join(s.Args, " "))
	}
	var out io.Writer = logFile
	if s.OnLine != nil {
		out = io.MultiWriter(logFile, &lineWriter{onLine: s.OnLine})
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	sig := s.DeathSignal
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	cmd.SysProcAttr = sysProcAttr(s.OwnGroup, sig)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	p := &Process{spec: s, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the process's name from its Spec.
func (p *Process) Name() string { return p.spec.Name }

// Pid is the child's process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is the file holding its output.
func (p *Process) LogPath() string { return p.spec.LogPath }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process exited (nil for status 0); valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the process, or to its whole group when it has one of its own.
func (p *Process) Signal(sig syscall.Signal) error {
	pid := p.cmd.Process.Pid
	if p.spec.OwnGroup {
		pid = -pid
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling %s: %w", p.spec.Name, err)
	}
	return nil
}

// Kill sends SIGKILL (a crash, as far as the child can tell) and waits until it is gone.
func (p *Process) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends sig and waits up to grace for the process to exit, then kills it. It returns
// how long the process took, and an error when it had to be killed. Stopping an exited
// process returns at once.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) (time.Duration, error) {
	if p.Exited() {
		return 0, nil
	}
	start := time.Now()
	if err := p.Signal(sig); err != nil {
		return 0, err
	}
	select {
	case <-p.done:
		return time.Since(start), nil
	case <-time.After(grace):
	}
	p.Kill()
	return time.Since(start), fmt.Errorf("%s did not stop within %s; killed it", p.spec.Name, grace)
}

// Wait waits up to d for the process to exit on its own and returns its exit code, or -1 if
// it is still running.
func (p *Process) Wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Log returns what the process wrote so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.spec.LogPath)
	return string(b)
}

// Tail returns the last n lines of the log, to explain a failure.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CountLines counts the log lines that contain every one of parts.
func (p *Process) CountLines(parts ...string) int {
	f, err := os.Open(p.spec.LogPath)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		for _, s := range parts {
			if !strings.Contains(sc.Text(), s) {
				continue next
			}
		}
		n++
	}
	return n
}

// lineWriter calls onLine for every complete line written to it.
type lineWriter struct {
	mu     sync.Mutex
	buf    []byte
	onLine func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
