package lifecycle

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// Bounds of the network calls a step makes.
const (
	// RefreshTimeout bounds one token request. The manager's graceful shutdown must be longer,
	// so a refresh in flight at shutdown finishes and is saved before the process exits.
	RefreshTimeout = 20 * time.Second
	// connectTimeout bounds initialize + tools/list (or a ping).
	connectTimeout = 30 * time.Second
	// revokeTimeout bounds the revocation call of a logout.
	revokeTimeout = 10 * time.Second
	// DefaultDiscoveryTimeout bounds discovery as a whole: its requests are bounded one by one,
	// but a tarpit answering each of them slowly would otherwise hold a worker for minutes.
	DefaultDiscoveryTimeout = 30 * time.Second
	// maxSteps bounds a pass: Plan never asks for this many, so reaching it is a bug, not a loop.
	maxSteps = 16
)

// Runner performs passes. It is safe for concurrent passes of different keys; the work queue
// guarantees one pass per key at a time, which makes the pass the single writer of its token.
type Runner struct {
	Store    Store
	OAuth    OAuth
	Sessions Sessions
	// Now reads the clock for the times outcomes record (Facts.Now is the pass's start).
	Now func() time.Time
	// DiscoveryTimeout bounds one discovery in total (DefaultDiscoveryTimeout when zero).
	DiscoveryTimeout time.Duration

	// unsaved holds refreshed tokens whose save failed, so a rotated refresh token is not lost
	// when the store hiccups; the next pass saves it first.
	mu      sync.Mutex
	unsaved map[tokenstore.Key]Unsaved
}

// Pass is one pass's context: the facts, the object's owner hooks, and a logger.
type Pass struct {
	Facts *Facts
	Owner Owner
	Log   logr.Logger
}

// Run plans and acts until Plan has nothing left, then computes status, events and wake-up.
func (r *Runner) Run(ctx context.Context, p Pass) Result {
	registerLive(p.Facts)
	var o Outcomes
	for len(o) < maxSteps {
		steps := Plan(p.Facts, o)
		if len(steps) == 0 {
			break
		}
		for _, s := range steps {
			o = append(o, r.do(ctx, p, o, s))
			if decisive[s.Kind] {
				break
			}
		}
	}
	st := statusOf(p.Facts, o)
	return Result{Outcomes: o, Record: current(p.Facts, o), Status: st, Events: events(p.Facts, o), WakeAt: wakeAt(p.Facts, o, st)}
}

// do performs one step and records what happened. It sets no condition.
func (r *Runner) do(ctx context.Context, p Pass, o Outcomes, s Step) Outcome {
	f := p.Facts
	began := r.Now()
	var out Outcome
	switch s.Kind {
	case StepSaveUnsaved:
		out = r.saveUnsaved(f)
	case StepLogout:
		out = r.logout(ctx, p, current(f, o))
	case StepIngestHandOver:
		out = r.ingest(ctx, p, o, s)
		r.deleteHandOver(ctx, p, s)
	case StepRejectHandOver:
		p.Log.Info("Rejected a login hand-over", "secret", f.HandOvers[s.HandOver].Name, "reason", s.Reason)
		r.deleteHandOver(ctx, p, s)
	case StepCloseSession:
		r.Sessions.Close(f.Config.SessionKey)
	case StepRequestLogin, StepOfferBrowserLogin:
		if s.Browser {
			p.Owner.OfferBrowserLogin()
		}
	case StepDiscover:
		out = r.discover(ctx, p, laterChallenge(o))
	case StepRefresh:
		out = r.refresh(ctx, p, current(f, o))
	case StepConnect:
		out = r.connect(ctx, p, current(f, o), s)
	}
	out.Step, out.At = s, r.Now()
	out.Took = out.At.Sub(began)
	return out
}

func (r *Runner) deleteHandOver(ctx context.Context, p Pass, s Step) {
	name := p.Facts.HandOvers[s.HandOver].Name
	if err := p.Owner.DeleteHandOver(ctx, name); err != nil {
		p.Log.Error(err, "Failed to delete a login hand-over", "secret", name)
	}
}

func (r *Runner) saveUnsaved(f *Facts) Outcome {
	u := f.Unsaved
	rev, saved, err := r.save(f.Key, u.Record, u.ExpectRevision)
	switch {
	case errors.Is(err, tokenstore.ErrConflict):
		r.Forget(f.Key) // a newer token landed meanwhile: the remembered one is older
		return Outcome{Conflict: true, Saved: saved}
	case err != nil:
		return Outcome{StoreErr: err, Saved: saved}
	}
	r.Forget(f.Key)
	rec := *u.Record
	rec.Revision = rev
	return Outcome{Record: &rec, Saved: saved}
}

// save saves rec under k if the stored revision is still expect, and says how long it took.
func (r *Runner) save(k tokenstore.Key, rec *tokenstore.Record, expect uint64) (uint64, time.Duration, error) {
	began := r.Now()
	rev, err := r.Store.Save(k, rec, expect)
	return rev, r.Now().Sub(began), err
}

// ingest saves a login over the current record (compare-and-swap: the newest login wins).
func (r *Runner) ingest(ctx context.Context, p Pass, o Outcomes, s Step) Outcome {
	f := p.Facts
	h := f.HandOvers[s.HandOver]
	if err := r.verifyEndpoints(ctx, p, h.Record); err != nil {
		return Outcome{Err: err}
	}
	rec := *h.Record
	if rec.ObtainedAt.IsZero() {
		rec.ObtainedAt = f.Now
	}
	var expect uint64
	if cur := current(f, o); cur != nil {
		expect = cur.Revision
	}
	rev, saved, err := r.save(f.Key, &rec, expect)
	if err != nil {
		return Outcome{Err: errors.Join(errors.New("saving it"), err), Saved: saved}
	}
	rec.Revision = rev
	r.Forget(f.Key)
	forgetReplaced(current(f, o), &rec)
	return Outcome{Record: &rec, CorrelationID: rec.CorrelationID, Saved: saved}
}

// Unsaved is the token a failed save left in memory for k, or nil: observe reads it.
func (r *Runner) Unsaved(k tokenstore.Key) *Unsaved {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.unsaved[k]; ok {
		return &u
	}
	return nil
}

// Forget drops the unsaved token of k (it was saved, or a newer one won, or k is gone).
func (r *Runner) Forget(k tokenstore.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.unsaved, k)
}

func (r *Runner) keepUnsaved(k tokenstore.Key, rec *tokenstore.Record, expect uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unsaved == nil {
		r.unsaved = map[tokenstore.Key]Unsaved{}
	}
	r.unsaved[k] = Unsaved{Record: rec, ExpectRevision: expect}
}

// ForgetServer drops every unsaved token of one object (it was deleted or logged out).
func (r *Runner) ForgetServer(namespace, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.unsaved {
		if k.Namespace == namespace && k.Name == name {
			delete(r.unsaved, k)
		}
	}
}
