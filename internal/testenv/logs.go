package testenv

import (
	"fmt"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// logBook is what one manager logged: the lines (kept for leak checks, optionally shown) and
// how many reconciles of each server have started and completed.
//
// The reconcile counts come from controller-runtime's own V(5) lines: "Reconciling" before
// every Reconcile, and "Reconcile successful", "Reconcile done, requeueing…" or "Reconciler
// error" after it returns, each with the request's namespace and name. They are a positive signal that "the reconciler looked at
// this server again", which a test waits for instead of sleeping before it asserts that
// nothing happened. It needs no hook in the controller, and each manager has its own count
// (the process-wide reconcile_total metric does not say which server or which manager).
type logBook struct {
	verbosity  int          // lines up to this V-level are kept and shown
	show       func(string) // nil: keep only
	errorsOnly bool         // show only errors (a suite without a test log: stderr)

	mu        sync.Mutex
	lines     []string
	started   map[string]int
	completed map[string]int
	changed   chan struct{} // closed and replaced whenever a reconcile completes
}

func newLogBook(verbosity int, show func(string), errorsOnly bool) *logBook {
	return &logBook{verbosity: verbosity, show: show, errorsOnly: errorsOnly,
		started: map[string]int{}, completed: map[string]int{}, changed: make(chan struct{})}
}

// logger returns a logger writing into the book.
func (b *logBook) logger() logr.Logger {
	return logr.New(&bookSink{book: b, f: funcr.NewFormatter(funcr.Options{Verbosity: 5})})
}

func (b *logBook) add(line string, isError bool) {
	b.mu.Lock()
	b.lines = append(b.lines, line)
	b.mu.Unlock()
	if b.show != nil && (isError || !b.errorsOnly) {
		b.show(line)
	}
}

func (b *logBook) reconcile(key string, done bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !done {
		b.started[key]++
		return
	}
	b.completed[key]++
	close(b.changed)
	b.changed = make(chan struct{})
}

// count returns the started and completed reconciles of key, and a channel closed at the
// next completion.
func (b *logBook) count(key string) (started, completed int, next <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.started[key], b.completed[key], b.changed
}

func (b *logBook) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

func (b *logBook) String() string { return strings.Join(b.all(), "\n") }

// bookSink is a logr.LogSink over funcr's formatter. It is enabled up to V(5) so that
// controller-runtime's completion lines reach it; lines above the book's verbosity are counted
// but neither formatted nor kept.
type bookSink struct {
	book            *logBook
	f               funcr.Formatter
	namespace, name string // from WithValues: which request a controller's logger is for
}

var _ logr.LogSink = (*bookSink)(nil)

func (s *bookSink) Init(info logr.RuntimeInfo) { s.f.Init(info) }

func (s *bookSink) Enabled(level int) bool { return level <= 5 }

func (s *bookSink) Info(level int, msg string, kv ...any) {
	if level == 5 {
		switch {
		case msg == "Reconciling":
			s.countReconcile(false)
		case msg == "Reconcile successful" || strings.HasPrefix(msg, "Reconcile done"):
			s.countReconcile(true)
		}
	}
	if level > s.book.verbosity {
		return
	}
	prefix, args := s.f.FormatInfo(level, msg, kv)
	s.book.add(prefix+" "+args, false)
}

func (s *bookSink) Error(err error, msg string, kv ...any) {
	if msg == "Reconciler error" {
		s.countReconcile(true)
	}
	prefix, args := s.f.FormatError(err, msg, kv)
	s.book.add(prefix+" "+args, true)
}

func (s *bookSink) countReconcile(done bool) {
	if s.name != "" {
		s.book.reconcile(s.namespace+"/"+s.name, done)
	}
}

func (s *bookSink) WithValues(kv ...any) logr.LogSink {
	c := *s
	c.f.AddValues(kv)
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "namespace":
			c.namespace = fmt.Sprint(kv[i+1])
		case "name":
			c.name = fmt.Sprint(kv[i+1])
		}
	}
	return &c
}

func (s *bookSink) WithName(name string) logr.LogSink {
	c := *s
	c.f.AddName(name)
	return &c
}
