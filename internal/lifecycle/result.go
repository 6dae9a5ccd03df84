package lifecycle

import (
	"time"

	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// Retry delays for what only time or a person can fix.
const (
	// configRetry: a config or a token store that cannot be read.
	configRetry = time.Minute
	// discoveryRetry: a server that could not be reached.
	discoveryRetry = 30 * time.Second
	// browserLoginRetry: how often a login still awaited is offered again in the browser.
	browserLoginRetry = 5 * time.Minute
	// minWake keeps a due-now requeue from spinning faster than the work queue can breathe.
	minWake = 10 * time.Millisecond
)

// Result is a pass: its outcomes, the status they make, the events to emit, and when to look
// again (zero for never).
type Result struct {
	Outcomes Outcomes
	// Record is the token held at the end of the pass (nil for none).
	Record *tokenstore.Record
	Status Status
	Events []Event
	WakeAt time.Time
}

// statusOf computes the status a pass leaves, from the facts and the outcomes only.
func statusOf(f *Facts, o Outcomes) Status {
	s := f.Prev
	set := func(dst **Condition, c *Condition) {
		if c != nil {
			*dst = c
		}
	}
	set(&s.Authenticated, authenticatedCondition(f, o))
	set(&s.Connected, connectedCondition(f, o))
	set(&s.LoginAccepted, loginAcceptedCondition(f, o))
	s.AuthorizationRequired, s.Authorization = authorizationRequiredCondition(f, o)
	s.Refresh = refreshMemory(f, o)
	refreshAt, _ := next(f, o, s.Refresh)
	if s.Refresh != nil {
		s.Refresh.NextRefreshTime = refreshAt.Truncate(time.Second)
	} else if !refreshAt.IsZero() {
		s.Refresh = &RefreshMemory{NextRefreshTime: refreshAt.Truncate(time.Second)}
	}
	s.Token, s.Server, s.LastCorrelationID = tokenAndServer(f, o, s)
	return s
}

// tokenAndServer: status.token follows the token held while it is valid; logout and a
// server needing no token clear both.
func tokenAndServer(f *Facts, o Outcomes, s Status) (*TokenInfo, *ServerInfo, string) {
	tok, srv, id := f.Prev.Token, f.Prev.Server, f.Prev.LastCorrelationID
	for _, x := range o {
		switch {
		case x.Step.Kind == StepLogout && x.Err == nil:
			tok, srv = nil, nil
		case x.Step.Kind == StepConnect && x.Step.NoToken:
			tok = nil
		}
		if x.Step.Kind == StepConnect && x.Err == nil && x.Info != nil {
			i := x.Info
			srv = &ServerInfo{Name: i.Name, Version: i.Version, ProtocolVersion: i.ProtocolVersion, Tools: int32(i.Tools)}
		}
		if x.CorrelationID != "" {
			id = x.CorrelationID
		}
	}
	if rec := current(f, o); rec != nil && s.Authenticated != nil && s.Authenticated.Status == True &&
		s.Authenticated.Reason == ReasonTokenValid {
		tok = tokenInfo(rec)
	}
	return tok, srv, id
}

// wakeAt is the earliest time the pass asks to be looked at again; zero for never.
func wakeAt(f *Facts, o Outcomes, s Status) time.Time {
	var at time.Time
	wake := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if f.ConfigErr != nil || f.StoreErr != nil || o.storeFailed() != nil {
		wake(f.Now.Add(configRetry))
	}
	for _, x := range o {
		switch x.Step.Kind {
		case StepDiscover:
			if x.Err != nil {
				wake(f.Now.Add(discoveryRetry))
			}
		case StepOfferBrowserLogin:
			wake(f.Now.Add(browserLoginRetry))
		case StepConnect:
			wake(connectWake(f, x))
		}
	}
	refreshAt, expiresAt := next(f, o, refreshMemory(f, o))
	if expiresAt.After(f.Now) {
		wake(expiresAt)
	}
	wake(refreshAt)
	return at
}

func connectWake(f *Facts, x Outcome) time.Time {
	interval := f.Config.HealthInterval
	if f.Config.OneShot {
		// No session to check: the token's own times decide, and a check that could not be
		// made is tried again.
		if x.Err == nil || x.Unauthorized {
			return time.Time{}
		}
		return f.Now.Add(discoveryRetry)
	}
	switch {
	case x.Err == nil:
		return f.Now.Add(interval)
	case x.Unauthorized:
		return time.Time{}
	}
	if interval < discoveryRetry {
		return f.Now.Add(interval)
	}
	return f.Now.Add(discoveryRetry)
}

// RequeueAfter turns a wake time into a delay measured from now, the moment the reconcile
// returns (not when it started, which would make every wake-up late by the pass's length).
func RequeueAfter(at, now time.Time) time.Duration {
	if at.IsZero() {
		return 0
	}
	if d := at.Sub(now); d > minWake {
		return d
	}
	return minWake
}
