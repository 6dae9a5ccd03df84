package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// outcomeFunc inspects a server or a credential: done says the wait is over, msg is the
// progress text.
type outcomeFunc func(h *holder) (done bool, msg string, err error)

// waitFor polls the target until check says it is done or ctx ends (ExitTimedOut). Progress is a
// spinner on a terminal and plain lines (printed when the text changes) otherwise.
func waitFor(ctx context.Context, env *Env, c client.Client, t target, check outcomeFunc) (*holder, error) {
	p := newProgress(env.ErrOut)
	defer p.clear()
	tick := time.NewTicker(env.PollInterval)
	defer tick.Stop()
	for {
		h, err := t.read(ctx, c)
		switch {
		case apierrors.IsNotFound(err):
			return nil, &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s %s was deleted", t.kind, t.key)}
		case err != nil && ctx.Err() == nil:
			p.update("Could not read the " + t.noun() + " (" + err.Error() + "); retrying")
		case err == nil:
			done, msg, cerr := check(h)
			if done {
				return h, cerr
			}
			p.update(msg)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, &ExitError{Code: ExitTimedOut, Err: errors.New("timed out")}
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// progress shows what a wait is waiting for.
type progress struct {
	w     io.Writer
	tty   bool
	last  string
	frame int
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) update(msg string) {
	if p.tty {
		p.frame++
		fmt.Fprintf(p.w, "\r%s %s\033[K", spinnerFrames[p.frame%len(spinnerFrames)], msg)
		p.last = msg
		return
	}
	if msg != p.last {
		fmt.Fprintln(p.w, msg)
		p.last = msg
	}
}

func (p *progress) clear() {
	if p.tty && p.last != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// printOutcome prints a server's or a credential's state after an action: readiness, tools
// (a server's), account and subjects (a credential's), and token expiry.
func printOutcome(env *Env, h *holder) {
	w := env.Out
	name := h.String()
	if h.kind == kindCredential {
		name += " (server " + h.serverRef + ")"
	}
	switch ready := h.cond(mcpv1alpha1.ConditionReady); {
	case ready != nil && ready.Status == "True":
		fmt.Fprintf(w, "%s is Ready", name)
	case ready != nil:
		fmt.Fprintf(w, "%s is not Ready (%s): %s", name, ready.Reason, ready.Message)
	default:
		fmt.Fprintf(w, "%s has no Ready condition yet", name)
	}
	fmt.Fprintln(w)
	if s := h.server; s != nil && s.Name != "" {
		fmt.Fprintf(w, "  server:  %s %s (protocol %s), %d tools\n", s.Name, s.Version, s.ProtocolVersion, s.Tools)
	}
	if h.kind == kindCredential {
		fmt.Fprintf(w, "  for:     %s\n", strings.Join(subjectRefs(h.subjects), ", "))
		if tok := h.token; tok != nil && tok.ObtainedBy != "" {
			fmt.Fprintf(w, "  account: %s\n", tok.ObtainedBy)
		}
	}
	if tok := h.token; tok != nil && tok.ExpiresAt != nil {
		fmt.Fprintf(w, "  token:   expires %s (in %s)\n", tok.ExpiresAt.UTC().Format(time.RFC3339),
			humanDuration(tok.ExpiresAt.Sub(env.Now())))
	}
	if r := h.refresh; r != nil && r.FailedAttempts > 0 {
		fmt.Fprintf(w, "  refresh: %d failed attempts; last: %s\n", r.FailedAttempts, r.LastFailureReason)
	}
	if ar := h.cond(mcpv1alpha1.ConditionAuthorizationRequired); ar != nil && ar.Status == "True" {
		fmt.Fprintf(w, "  login:   required (%s): %s\n", ar.Reason, ar.Message)
	}
}

// humanDuration renders d like kubectl ages: 45s, 12m, 3h5m, 2d.
func humanDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 {
			s = fmt.Sprintf("%dh%dm", h, m)
		} else {
			s = fmt.Sprintf("%dh", h)
		}
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if neg {
		return "-" + s
	}
	return s
}
