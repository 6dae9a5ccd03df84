package tokenstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childCommand re-executes the test binary in a child role.
func childCommand(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	return cmd
}

// childLock tries to open TOKENSTORE_PATH and reports the outcome on stdout.
func childLock() int {
	start := time.Now()
	s, err := Open(os.Getenv("TOKENSTORE_PATH"), Options{OpenTimeout: 300 * time.Millisecond})
	if err == nil {
		_ = s.Close()
		fmt.Println("opened")
		return 0
	}
	fmt.Printf("locked=%t after=%s err=%v\n", errors.Is(err, ErrLocked), time.Since(start).Round(time.Millisecond), err)
	return 0
}

func TestLockContentionBetweenProcesses(t *testing.T) {
	s, path := newTestStore(t)
	out, err := childCommand(t, "lock", "TOKENSTORE_PATH="+path).CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "locked=true") || !strings.Contains(string(out), "token store is locked by another process") {
		t.Fatalf("child with the store held: %s", out)
	}
	// Released on Close: the child gets in.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out, err = childCommand(t, "lock", "TOKENSTORE_PATH="+path).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "opened") {
		t.Fatalf("child after Close: %v %s", err, out)
	}
}

func TestLockContentionInProcess(t *testing.T) {
	_, path := newTestStore(t)
	start := time.Now()
	_, err := Open(path, Options{OpenTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second Open took %s", d)
	}
}

// childCrash saves in a loop from several goroutines, one server each, and
// prints "ack <server> <revision> <counter>" after every acknowledged save.
func childCrash() int {
	s, err := Open(os.Getenv("TOKENSTORE_PATH"), Options{KeyFile: os.Getenv("TOKENSTORE_KEYFILE")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	var mu sync.Mutex // one write per line, so lines never interleave
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() {
			k := testKey(fmt.Sprintf("crash-%d", w))
			var rev uint64
			var n int64
			if r, err := s.Load(k); err == nil {
				rev, n = r.Revision, r.RefreshCount
			}
			for {
				r := testRecord(k)
				n++
				r.RefreshCount = n
				r.RefreshToken = fmt.Sprintf("rt-%d", n)
				next, err := s.Save(k, r, rev)
				if err != nil {
					fmt.Fprintln(os.Stderr, "save:", err)
					os.Exit(1)
				}
				rev = next
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d %d\n", w, rev, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

const crashWorkers = 4

func TestCrashKeepsAcknowledgedSaves(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.db")
	keyFile := filepath.Join(dir, "key")
	if _, err := generateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		rev uint64
		n   int64
	}
	acked := make([]ack, crashWorkers)
	const kills = 10
	total := 0
	for round := range kills {
		cmd := childCommand(t, "crash", "TOKENSTORE_PATH="+path, "TOKENSTORE_KEYFILE="+keyFile)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return // a partial last line was never fully acknowledged
				}
				lines <- line
			}
		}()
		// Kill once some saves were acknowledged, at a random moment.
		deadline := time.After(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		killed := false
		for line := range lines {
			var w int
			var a ack
			if _, err := fmt.Sscanf(line, "ack %d %d %d\n", &w, &a.rev, &a.n); err != nil {
				t.Fatalf("round %d: bad line %q", round, line)
			}
			if a.rev <= acked[w].rev {
				t.Fatalf("round %d: worker %d revision went backwards: %d after %d", round, w, a.rev, acked[w].rev)
			}
			acked[w] = a
			total++
			if !killed {
				select {
				case <-deadline:
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				default:
				}
			}
		}
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited by itself: %s", round, stderr.String())
		}

		// Every acknowledged save is present, and the file is intact
		// (Open runs bbolt's consistency check).
		s, err := Open(path, Options{KeyFile: keyFile})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		for w, a := range acked {
			if a.rev == 0 {
				continue
			}
			r, err := s.Load(testKey(fmt.Sprintf("crash-%d", w)))
			if err != nil {
				t.Fatalf("round %d: worker %d: %v", round, w, err)
			}
			// The child may have committed one more save whose ack it never
			// printed; it can never be older than the last ack.
			if r.Revision < a.rev || r.RefreshCount < a.n || r.RefreshToken != "rt-"+strconv.FormatInt(r.RefreshCount, 10) {
				t.Fatalf("round %d: worker %d: stored rev %d count %d, acknowledged rev %d count %d",
					round, w, r.Revision, r.RefreshCount, a.rev, a.n)
			}
			acked[w] = ack{r.Revision, r.RefreshCount}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills, %d acknowledged saves, all present", kills, total)
	if total == 0 {
		t.Fatal("no save was acknowledged")
	}
}
